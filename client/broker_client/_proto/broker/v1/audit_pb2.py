"""Generated protocol buffer code."""
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pool as _descriptor_pool
from google.protobuf import runtime_version as _runtime_version
from google.protobuf import symbol_database as _symbol_database
from google.protobuf.internal import builder as _builder
_runtime_version.ValidateProtobufRuntimeVersion(_runtime_version.Domain.PUBLIC, 5, 29, 0, '', 'broker/v1/audit.proto')
_sym_db = _symbol_database.Default()
from google.protobuf import struct_pb2 as google_dot_protobuf_dot_struct__pb2
from google.protobuf import timestamp_pb2 as google_dot_protobuf_dot_timestamp__pb2
DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'\n\x15broker/v1/audit.proto\x12\tbroker.v1\x1a\x1cgoogle/protobuf/struct.proto\x1a\x1fgoogle/protobuf/timestamp.proto"\xae\x02\n\nAuditEvent\x12\n\n\x02id\x18\x01 \x01(\t\x12.\n\nevent_time\x18\x02 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x0e\n\x06action\x18\x03 \x01(\t\x12\r\n\x05actor\x18\x04 \x01(\t\x12\x0e\n\x06target\x18\x05 \x01(\t\x12\x0f\n\x07outcome\x18\x06 \x01(\t\x12\x12\n\nrequest_id\x18\x07 \x01(\t\x12(\n\x07details\x18\x08 \x01(\x0b2\x17.google.protobuf.Struct\x12\x16\n\x0eclient_address\x18\t \x01(\t\x12\x0f\n\x07replica\x18\n \x01(\t\x12\x0b\n\x03seq\x18\x0b \x01(\x03\x12\x11\n\tprev_hash\x18\x0c \x01(\t\x12\x0c\n\x04hash\x18\r \x01(\t\x12\x0f\n\x07subject\x18\x0e \x01(\t"O\n\x16ListAuditEventsRequest\x12\x11\n\tpage_size\x18\x01 \x01(\x05\x12\x12\n\npage_token\x18\x02 \x01(\t\x12\x0e\n\x06filter\x18\x03 \x01(\t"Y\n\x17ListAuditEventsResponse\x12%\n\x06events\x18\x01 \x03(\x0b2\x15.broker.v1.AuditEvent\x12\x17\n\x0fnext_page_token\x18\x02 \x01(\t"\x19\n\x17VerifyAuditChainRequest":\n\x0cChainProblem\x12\x0b\n\x03seq\x18\x01 \x01(\x03\x12\x0c\n\x04kind\x18\x02 \x01(\t\x12\x0f\n\x07message\x18\x03 \x01(\t"\xa2\x02\n\x18VerifyAuditChainResponse\x12\n\n\x02ok\x18\x01 \x01(\x08\x12\x0e\n\x06events\x18\x02 \x01(\x03\x12\x11\n\tfirst_seq\x18\x03 \x01(\x03\x12\x10\n\x08last_seq\x18\x04 \x01(\x03\x12\x13\n\x0bcheckpoints\x18\x05 \x01(\x03\x12\x1d\n\x15unchecked_checkpoints\x18\x06 \x01(\x03\x128\n\x14last_checkpoint_time\x18\x07 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x15\n\rproblem_count\x18\x08 \x01(\x03\x12)\n\x08problems\x18\t \x03(\x0b2\x17.broker.v1.ChainProblem\x12\x15\n\rpseudonymized\x18\n \x01(\x032\xc5\x01\n\x0cAuditService\x12X\n\x0fListAuditEvents\x12!.broker.v1.ListAuditEventsRequest\x1a".broker.v1.ListAuditEventsResponse\x12[\n\x10VerifyAuditChain\x12".broker.v1.VerifyAuditChainRequest\x1a#.broker.v1.VerifyAuditChainResponseb\x06proto3')
_globals = globals()
_builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, _globals)
_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'broker.v1.audit_pb2', _globals)
if not _descriptor._USE_C_DESCRIPTORS:
    DESCRIPTOR._loaded_options = None
    _globals['_AUDITEVENT']._serialized_start = 100
    _globals['_AUDITEVENT']._serialized_end = 402
    _globals['_LISTAUDITEVENTSREQUEST']._serialized_start = 404
    _globals['_LISTAUDITEVENTSREQUEST']._serialized_end = 483
    _globals['_LISTAUDITEVENTSRESPONSE']._serialized_start = 485
    _globals['_LISTAUDITEVENTSRESPONSE']._serialized_end = 574
    _globals['_VERIFYAUDITCHAINREQUEST']._serialized_start = 576
    _globals['_VERIFYAUDITCHAINREQUEST']._serialized_end = 601
    _globals['_CHAINPROBLEM']._serialized_start = 603
    _globals['_CHAINPROBLEM']._serialized_end = 661
    _globals['_VERIFYAUDITCHAINRESPONSE']._serialized_start = 664
    _globals['_VERIFYAUDITCHAINRESPONSE']._serialized_end = 954
    _globals['_AUDITSERVICE']._serialized_start = 957
    _globals['_AUDITSERVICE']._serialized_end = 1154