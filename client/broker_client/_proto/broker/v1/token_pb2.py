"""Generated protocol buffer code."""
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pool as _descriptor_pool
from google.protobuf import runtime_version as _runtime_version
from google.protobuf import symbol_database as _symbol_database
from google.protobuf.internal import builder as _builder
_runtime_version.ValidateProtobufRuntimeVersion(_runtime_version.Domain.PUBLIC, 5, 29, 0, '', 'broker/v1/token.proto')
_sym_db = _symbol_database.Default()
from google.protobuf import duration_pb2 as google_dot_protobuf_dot_duration__pb2
from google.protobuf import struct_pb2 as google_dot_protobuf_dot_struct__pb2
from google.protobuf import timestamp_pb2 as google_dot_protobuf_dot_timestamp__pb2
DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'\n\x15broker/v1/token.proto\x12\tbroker.v1\x1a\x1egoogle/protobuf/duration.proto\x1a\x1cgoogle/protobuf/struct.proto\x1a\x1fgoogle/protobuf/timestamp.proto"\xeb\x01\n\x14ExchangeTokenRequest\x12\x15\n\rsubject_token\x18\x01 \x01(\t\x12\x1a\n\x12subject_token_type\x18\x02 \x01(\t\x12\x13\n\x0bactor_token\x18\x03 \x01(\t\x12\x18\n\x10actor_token_type\x18\x04 \x01(\t\x12\x0e\n\x06scopes\x18\x05 \x03(\t\x12\x11\n\taudiences\x18\x06 \x03(\t\x120\n\rrequested_ttl\x18\x07 \x01(\x0b2\x19.google.protobuf.Duration\x12\x1c\n\x14requested_token_type\x18\x08 \x01(\t"\xaf\x01\n\x15ExchangeTokenResponse\x12\x14\n\x0caccess_token\x18\x01 \x01(\t\x12\x19\n\x11issued_token_type\x18\x02 \x01(\t\x12\x12\n\ntoken_type\x18\x03 \x01(\t\x12.\n\nexpires_at\x18\x04 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x0e\n\x06scopes\x18\x05 \x03(\t\x12\x11\n\taudiences\x18\x06 \x03(\t"\'\n\x16IntrospectTokenRequest\x12\r\n\x05token\x18\x01 \x01(\t"R\n\x17IntrospectTokenResponse\x12\x0e\n\x06active\x18\x01 \x01(\x08\x12\'\n\x06claims\x18\x02 \x01(\x0b2\x17.google.protobuf.Struct"#\n\x12RevokeTokenRequest\x12\r\n\x05token\x18\x01 \x01(\t"\x15\n\x13RevokeTokenResponse"\x10\n\x0eGetJwksRequest"4\n\x0fGetJwksResponse\x12\x11\n\tjwks_json\x18\x01 \x01(\t\x12\x0e\n\x06issuer\x18\x02 \x01(\t2\xcc\x02\n\x0cTokenService\x12R\n\rExchangeToken\x12\x1f.broker.v1.ExchangeTokenRequest\x1a .broker.v1.ExchangeTokenResponse\x12X\n\x0fIntrospectToken\x12!.broker.v1.IntrospectTokenRequest\x1a".broker.v1.IntrospectTokenResponse\x12L\n\x0bRevokeToken\x12\x1d.broker.v1.RevokeTokenRequest\x1a\x1e.broker.v1.RevokeTokenResponse\x12@\n\x07GetJwks\x12\x19.broker.v1.GetJwksRequest\x1a\x1a.broker.v1.GetJwksResponseb\x06proto3')
_globals = globals()
_builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, _globals)
_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'broker.v1.token_pb2', _globals)
if not _descriptor._USE_C_DESCRIPTORS:
    DESCRIPTOR._loaded_options = None
    _globals['_EXCHANGETOKENREQUEST']._serialized_start = 132
    _globals['_EXCHANGETOKENREQUEST']._serialized_end = 367
    _globals['_EXCHANGETOKENRESPONSE']._serialized_start = 370
    _globals['_EXCHANGETOKENRESPONSE']._serialized_end = 545
    _globals['_INTROSPECTTOKENREQUEST']._serialized_start = 547
    _globals['_INTROSPECTTOKENREQUEST']._serialized_end = 586
    _globals['_INTROSPECTTOKENRESPONSE']._serialized_start = 588
    _globals['_INTROSPECTTOKENRESPONSE']._serialized_end = 670
    _globals['_REVOKETOKENREQUEST']._serialized_start = 672
    _globals['_REVOKETOKENREQUEST']._serialized_end = 707
    _globals['_REVOKETOKENRESPONSE']._serialized_start = 709
    _globals['_REVOKETOKENRESPONSE']._serialized_end = 730
    _globals['_GETJWKSREQUEST']._serialized_start = 732
    _globals['_GETJWKSREQUEST']._serialized_end = 748
    _globals['_GETJWKSRESPONSE']._serialized_start = 750
    _globals['_GETJWKSRESPONSE']._serialized_end = 802
    _globals['_TOKENSERVICE']._serialized_start = 805
    _globals['_TOKENSERVICE']._serialized_end = 1137