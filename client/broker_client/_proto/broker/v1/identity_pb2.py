"""Generated protocol buffer code."""
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pool as _descriptor_pool
from google.protobuf import runtime_version as _runtime_version
from google.protobuf import symbol_database as _symbol_database
from google.protobuf.internal import builder as _builder
_runtime_version.ValidateProtobufRuntimeVersion(_runtime_version.Domain.PUBLIC, 5, 29, 0, '', 'broker/v1/identity.proto')
_sym_db = _symbol_database.Default()
from google.protobuf import duration_pb2 as google_dot_protobuf_dot_duration__pb2
from google.protobuf import field_mask_pb2 as google_dot_protobuf_dot_field__mask__pb2
from google.protobuf import timestamp_pb2 as google_dot_protobuf_dot_timestamp__pb2
DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'\n\x18broker/v1/identity.proto\x12\tbroker.v1\x1a\x1egoogle/protobuf/duration.proto\x1a google/protobuf/field_mask.proto\x1a\x1fgoogle/protobuf/timestamp.proto"\xa2\x01\n\x07Binding\x12\x0e\n\x06issuer\x18\x01 \x01(\t\x12\x0f\n\x07subject\x18\x02 \x01(\t\x12?\n\x0frequired_claims\x18\x03 \x03(\x0b2&.broker.v1.Binding.RequiredClaimsEntry\x1a5\n\x13RequiredClaimsEntry\x12\x0b\n\x03key\x18\x01 \x01(\t\x12\r\n\x05value\x18\x02 \x01(\t:\x028\x01"\x8c\x01\n\tPublicKey\x12\x0b\n\x03kid\x18\x01 \x01(\t\x12\x10\n\x08jwk_json\x18\x02 \x01(\t\x12/\n\x0bexpire_time\x18\x03 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12/\n\x0bcreate_time\x18\x04 \x01(\x0b2\x1a.google.protobuf.Timestamp"\xb5\x03\n\x08Identity\x12\n\n\x02id\x18\x01 \x01(\t\x12%\n\x04kind\x18\x02 \x01(\x0e2\x17.broker.v1.IdentityKind\x12\x0e\n\x06tenant\x18\x03 \x01(\t\x12\x14\n\x0cdisplay_name\x18\x04 \x01(\t\x12\x16\n\x0eallowed_scopes\x18\x05 \x03(\t\x12\x19\n\x11allowed_audiences\x18\x06 \x03(\t\x120\n\rmax_token_ttl\x18\x07 \x01(\x0b2\x19.google.protobuf.Duration\x12$\n\x08bindings\x18\x08 \x03(\x0b2\x12.broker.v1.Binding\x12)\n\x0bpublic_keys\x18\t \x03(\x0b2\x14.broker.v1.PublicKey\x12\x18\n\x10delegable_scopes\x18\n \x03(\t\x12\x10\n\x08disabled\x18\x0b \x01(\x08\x12/\n\x0bcreate_time\x18\x0c \x01(\x0b2\x1a.google.protobuf.Timestamp\x12/\n\x0bupdate_time\x18\r \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x0c\n\x04etag\x18\x0e \x01(\t">\n\x15CreateIdentityRequest\x12%\n\x08identity\x18\x01 \x01(\x0b2\x13.broker.v1.Identity"?\n\x16CreateIdentityResponse\x12%\n\x08identity\x18\x01 \x01(\x0b2\x13.broker.v1.Identity" \n\x12GetIdentityRequest\x12\n\n\x02id\x18\x01 \x01(\t"<\n\x13GetIdentityResponse\x12%\n\x08identity\x18\x01 \x01(\x0b2\x13.broker.v1.Identity"N\n\x15ListIdentitiesRequest\x12\x11\n\tpage_size\x18\x01 \x01(\x05\x12\x12\n\npage_token\x18\x02 \x01(\t\x12\x0e\n\x06filter\x18\x03 \x01(\t"Z\n\x16ListIdentitiesResponse\x12\'\n\nidentities\x18\x01 \x03(\x0b2\x13.broker.v1.Identity\x12\x17\n\x0fnext_page_token\x18\x02 \x01(\t"o\n\x15UpdateIdentityRequest\x12%\n\x08identity\x18\x01 \x01(\x0b2\x13.broker.v1.Identity\x12/\n\x0bupdate_mask\x18\x02 \x01(\x0b2\x1a.google.protobuf.FieldMask"?\n\x16UpdateIdentityResponse\x12%\n\x08identity\x18\x01 \x01(\x0b2\x13.broker.v1.Identity"1\n\x15DeleteIdentityRequest\x12\n\n\x02id\x18\x01 \x01(\t\x12\x0c\n\x04etag\x18\x02 \x01(\t"\x18\n\x16DeleteIdentityResponse"~\n\x15AddIdentityKeyRequest\x12\x13\n\x0bidentity_id\x18\x01 \x01(\t\x12\x12\n\npublic_key\x18\x02 \x01(\t\x12\x0b\n\x03kid\x18\x03 \x01(\t\x12/\n\x0bexpire_time\x18\x04 \x01(\x0b2\x1a.google.protobuf.Timestamp"L\n\x16AddIdentityKeyResponse\x12%\n\x08identity\x18\x01 \x01(\x0b2\x13.broker.v1.Identity\x12\x0b\n\x03kid\x18\x02 \x01(\t"<\n\x18RemoveIdentityKeyRequest\x12\x13\n\x0bidentity_id\x18\x01 \x01(\t\x12\x0b\n\x03kid\x18\x02 \x01(\t"B\n\x19RemoveIdentityKeyResponse\x12%\n\x08identity\x18\x01 \x01(\x0b2\x13.broker.v1.Identity*l\n\x0cIdentityKind\x12\x1d\n\x19IDENTITY_KIND_UNSPECIFIED\x10\x00\x12!\n\x1dIDENTITY_KIND_SERVICE_ACCOUNT\x10\x01\x12\x1a\n\x16IDENTITY_KIND_AI_AGENT\x10\x022\xf2\x04\n\x0fIdentityService\x12U\n\x0eCreateIdentity\x12 .broker.v1.CreateIdentityRequest\x1a!.broker.v1.CreateIdentityResponse\x12L\n\x0bGetIdentity\x12\x1d.broker.v1.GetIdentityRequest\x1a\x1e.broker.v1.GetIdentityResponse\x12U\n\x0eListIdentities\x12 .broker.v1.ListIdentitiesRequest\x1a!.broker.v1.ListIdentitiesResponse\x12U\n\x0eUpdateIdentity\x12 .broker.v1.UpdateIdentityRequest\x1a!.broker.v1.UpdateIdentityResponse\x12U\n\x0eDeleteIdentity\x12 .broker.v1.DeleteIdentityRequest\x1a!.broker.v1.DeleteIdentityResponse\x12U\n\x0eAddIdentityKey\x12 .broker.v1.AddIdentityKeyRequest\x1a!.broker.v1.AddIdentityKeyResponse\x12^\n\x11RemoveIdentityKey\x12#.broker.v1.RemoveIdentityKeyRequest\x1a$.broker.v1.RemoveIdentityKeyResponseb\x06proto3')
_globals = globals()
_builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, _globals)
_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'broker.v1.identity_pb2', _globals)
if not _descriptor._USE_C_DESCRIPTORS:
    DESCRIPTOR._loaded_options = None
    _globals['_BINDING_REQUIREDCLAIMSENTRY']._loaded_options = None
    _globals['_BINDING_REQUIREDCLAIMSENTRY']._serialized_options = b'8\x01'
    _globals['_IDENTITYKIND']._serialized_start = 1874
    _globals['_IDENTITYKIND']._serialized_end = 1982
    _globals['_BINDING']._serialized_start = 139
    _globals['_BINDING']._serialized_end = 301
    _globals['_BINDING_REQUIREDCLAIMSENTRY']._serialized_start = 248
    _globals['_BINDING_REQUIREDCLAIMSENTRY']._serialized_end = 301
    _globals['_PUBLICKEY']._serialized_start = 304
    _globals['_PUBLICKEY']._serialized_end = 444
    _globals['_IDENTITY']._serialized_start = 447
    _globals['_IDENTITY']._serialized_end = 884
    _globals['_CREATEIDENTITYREQUEST']._serialized_start = 886
    _globals['_CREATEIDENTITYREQUEST']._serialized_end = 948
    _globals['_CREATEIDENTITYRESPONSE']._serialized_start = 950
    _globals['_CREATEIDENTITYRESPONSE']._serialized_end = 1013
    _globals['_GETIDENTITYREQUEST']._serialized_start = 1015
    _globals['_GETIDENTITYREQUEST']._serialized_end = 1047
    _globals['_GETIDENTITYRESPONSE']._serialized_start = 1049
    _globals['_GETIDENTITYRESPONSE']._serialized_end = 1109
    _globals['_LISTIDENTITIESREQUEST']._serialized_start = 1111
    _globals['_LISTIDENTITIESREQUEST']._serialized_end = 1189
    _globals['_LISTIDENTITIESRESPONSE']._serialized_start = 1191
    _globals['_LISTIDENTITIESRESPONSE']._serialized_end = 1281
    _globals['_UPDATEIDENTITYREQUEST']._serialized_start = 1283
    _globals['_UPDATEIDENTITYREQUEST']._serialized_end = 1394
    _globals['_UPDATEIDENTITYRESPONSE']._serialized_start = 1396
    _globals['_UPDATEIDENTITYRESPONSE']._serialized_end = 1459
    _globals['_DELETEIDENTITYREQUEST']._serialized_start = 1461
    _globals['_DELETEIDENTITYREQUEST']._serialized_end = 1510
    _globals['_DELETEIDENTITYRESPONSE']._serialized_start = 1512
    _globals['_DELETEIDENTITYRESPONSE']._serialized_end = 1536
    _globals['_ADDIDENTITYKEYREQUEST']._serialized_start = 1538
    _globals['_ADDIDENTITYKEYREQUEST']._serialized_end = 1664
    _globals['_ADDIDENTITYKEYRESPONSE']._serialized_start = 1666
    _globals['_ADDIDENTITYKEYRESPONSE']._serialized_end = 1742
    _globals['_REMOVEIDENTITYKEYREQUEST']._serialized_start = 1744
    _globals['_REMOVEIDENTITYKEYREQUEST']._serialized_end = 1804
    _globals['_REMOVEIDENTITYKEYRESPONSE']._serialized_start = 1806
    _globals['_REMOVEIDENTITYKEYRESPONSE']._serialized_end = 1872
    _globals['_IDENTITYSERVICE']._serialized_start = 1985
    _globals['_IDENTITYSERVICE']._serialized_end = 2611