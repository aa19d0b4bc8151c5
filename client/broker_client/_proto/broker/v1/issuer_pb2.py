"""Generated protocol buffer code."""
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pool as _descriptor_pool
from google.protobuf import runtime_version as _runtime_version
from google.protobuf import symbol_database as _symbol_database
from google.protobuf.internal import builder as _builder
_runtime_version.ValidateProtobufRuntimeVersion(_runtime_version.Domain.PUBLIC, 5, 29, 0, '', 'broker/v1/issuer.proto')
_sym_db = _symbol_database.Default()
from google.protobuf import duration_pb2 as google_dot_protobuf_dot_duration__pb2
from google.protobuf import timestamp_pb2 as google_dot_protobuf_dot_timestamp__pb2
DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'\n\x16broker/v1/issuer.proto\x12\tbroker.v1\x1a\x1egoogle/protobuf/duration.proto\x1a\x1fgoogle/protobuf/timestamp.proto"\x82\x02\n\rTrustedIssuer\x12\x0e\n\x06issuer\x18\x01 \x01(\t\x12\x11\n\tjwks_json\x18\x02 \x01(\t\x12\x11\n\tjwks_file\x18\x03 \x01(\t\x12\x10\n\x08jwks_url\x18\x04 \x01(\t\x12\x12\n\nalgorithms\x18\x05 \x03(\t\x12\x10\n\x08audience\x18\x06 \x01(\t\x12\x12\n\nsingle_use\x18\x07 \x01(\x08\x120\n\rmax_token_age\x18\x08 \x01(\x0b2\x19.google.protobuf.Duration\x12/\n\x0bcreate_time\x18\t \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x0c\n\x04etag\x18\n \x01(\t"?\n\x13CreateIssuerRequest\x12(\n\x06issuer\x18\x01 \x01(\x0b2\x18.broker.v1.TrustedIssuer"R\n\x14CreateIssuerResponse\x12(\n\x06issuer\x18\x01 \x01(\x0b2\x18.broker.v1.TrustedIssuer\x12\x10\n\x08warnings\x18\x02 \x03(\t""\n\x10GetIssuerRequest\x12\x0e\n\x06issuer\x18\x01 \x01(\t"=\n\x11GetIssuerResponse\x12(\n\x06issuer\x18\x01 \x01(\x0b2\x18.broker.v1.TrustedIssuer";\n\x12ListIssuersRequest\x12\x11\n\tpage_size\x18\x01 \x01(\x05\x12\x12\n\npage_token\x18\x02 \x01(\t"Y\n\x13ListIssuersResponse\x12)\n\x07issuers\x18\x01 \x03(\x0b2\x18.broker.v1.TrustedIssuer\x12\x17\n\x0fnext_page_token\x18\x02 \x01(\t"%\n\x13DeleteIssuerRequest\x12\x0e\n\x06issuer\x18\x01 \x01(\t"\x16\n\x14DeleteIssuerResponse2\xc7\x02\n\rIssuerService\x12O\n\x0cCreateIssuer\x12\x1e.broker.v1.CreateIssuerRequest\x1a\x1f.broker.v1.CreateIssuerResponse\x12F\n\tGetIssuer\x12\x1b.broker.v1.GetIssuerRequest\x1a\x1c.broker.v1.GetIssuerResponse\x12L\n\x0bListIssuers\x12\x1d.broker.v1.ListIssuersRequest\x1a\x1e.broker.v1.ListIssuersResponse\x12O\n\x0cDeleteIssuer\x12\x1e.broker.v1.DeleteIssuerRequest\x1a\x1f.broker.v1.DeleteIssuerResponseb\x06proto3')
_globals = globals()
_builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, _globals)
_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'broker.v1.issuer_pb2', _globals)
if not _descriptor._USE_C_DESCRIPTORS:
    DESCRIPTOR._loaded_options = None
    _globals['_TRUSTEDISSUER']._serialized_start = 103
    _globals['_TRUSTEDISSUER']._serialized_end = 361
    _globals['_CREATEISSUERREQUEST']._serialized_start = 363
    _globals['_CREATEISSUERREQUEST']._serialized_end = 426
    _globals['_CREATEISSUERRESPONSE']._serialized_start = 428
    _globals['_CREATEISSUERRESPONSE']._serialized_end = 510
    _globals['_GETISSUERREQUEST']._serialized_start = 512
    _globals['_GETISSUERREQUEST']._serialized_end = 546
    _globals['_GETISSUERRESPONSE']._serialized_start = 548
    _globals['_GETISSUERRESPONSE']._serialized_end = 609
    _globals['_LISTISSUERSREQUEST']._serialized_start = 611
    _globals['_LISTISSUERSREQUEST']._serialized_end = 670
    _globals['_LISTISSUERSRESPONSE']._serialized_start = 672
    _globals['_LISTISSUERSRESPONSE']._serialized_end = 761
    _globals['_DELETEISSUERREQUEST']._serialized_start = 763
    _globals['_DELETEISSUERREQUEST']._serialized_end = 800
    _globals['_DELETEISSUERRESPONSE']._serialized_start = 802
    _globals['_DELETEISSUERRESPONSE']._serialized_end = 824
    _globals['_ISSUERSERVICE']._serialized_start = 827
    _globals['_ISSUERSERVICE']._serialized_end = 1154