"""Generated protocol buffer code."""
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pool as _descriptor_pool
from google.protobuf import runtime_version as _runtime_version
from google.protobuf import symbol_database as _symbol_database
from google.protobuf.internal import builder as _builder
_runtime_version.ValidateProtobufRuntimeVersion(_runtime_version.Domain.PUBLIC, 5, 29, 0, '', 'broker/v1/secret.proto')
_sym_db = _symbol_database.Default()
from google.protobuf import duration_pb2 as google_dot_protobuf_dot_duration__pb2
from google.protobuf import field_mask_pb2 as google_dot_protobuf_dot_field__mask__pb2
from google.protobuf import timestamp_pb2 as google_dot_protobuf_dot_timestamp__pb2
DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'\n\x16broker/v1/secret.proto\x12\tbroker.v1\x1a\x1egoogle/protobuf/duration.proto\x1a google/protobuf/field_mask.proto\x1a\x1fgoogle/protobuf/timestamp.proto"\x9c\x01\n\x0eRotationPolicy\x12+\n\x08interval\x18\x01 \x01(\x0b2\x19.google.protobuf.Duration\x12/\n\x0cgrace_period\x18\x02 \x01(\x0b2\x19.google.protobuf.Duration\x12,\n\tretention\x18\x03 \x01(\x0b2\x19.google.protobuf.Duration"\xc1\x02\n\x06Secret\x12\n\n\x02id\x18\x01 \x01(\t\x12-\n\tgenerator\x18\x02 \x01(\x0e2\x1a.broker.v1.SecretGenerator\x12\x0e\n\x06length\x18\x03 \x01(\x05\x12+\n\x08rotation\x18\x04 \x01(\x0b2\x19.broker.v1.RotationPolicy\x12\x17\n\x0fcurrent_version\x18\x05 \x01(\x03\x126\n\x12next_rotation_time\x18\x06 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12/\n\x0bcreate_time\x18\x07 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12/\n\x0bupdate_time\x18\x08 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x0c\n\x04etag\x18\t \x01(\t"\xdc\x01\n\rSecretVersion\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12\x0f\n\x07version\x18\x02 \x01(\x03\x12,\n\x05state\x18\x03 \x01(\x0e2\x1d.broker.v1.SecretVersionState\x12/\n\x0bcreate_time\x18\x04 \x01(\x0b2\x1a.google.protobuf.Timestamp\x125\n\x11grace_expire_time\x18\x05 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x11\n\tdestroyed\x18\x06 \x01(\x08"b\n\x13CreateSecretRequest\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12!\n\x06secret\x18\x02 \x01(\x0b2\x11.broker.v1.Secret\x12\x15\n\rinitial_value\x18\x03 \x01(\x0c"9\n\x14CreateSecretResponse\x12!\n\x06secret\x18\x01 \x01(\x0b2\x11.broker.v1.Secret"%\n\x10GetSecretRequest\x12\x11\n\tsecret_id\x18\x01 \x01(\t"6\n\x11GetSecretResponse\x12!\n\x06secret\x18\x01 \x01(\x0b2\x11.broker.v1.Secret";\n\x12ListSecretsRequest\x12\x11\n\tpage_size\x18\x01 \x01(\x05\x12\x12\n\npage_token\x18\x02 \x01(\t"R\n\x13ListSecretsResponse\x12"\n\x07secrets\x18\x01 \x03(\x0b2\x11.broker.v1.Secret\x12\x17\n\x0fnext_page_token\x18\x02 \x01(\t"@\n\x1aAccessSecretVersionRequest\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12\x0f\n\x07version\x18\x02 \x01(\x03"\xb5\x01\n\x1bAccessSecretVersionResponse\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12\x0f\n\x07version\x18\x02 \x01(\x03\x12,\n\x05state\x18\x03 \x01(\x0e2\x1d.broker.v1.SecretVersionState\x12\r\n\x05value\x18\x04 \x01(\x0c\x125\n\x11grace_expire_time\x18\x05 \x01(\x0b2\x1a.google.protobuf.Timestamp"U\n\x19ListSecretVersionsRequest\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12\x11\n\tpage_size\x18\x02 \x01(\x05\x12\x12\n\npage_token\x18\x03 \x01(\t"a\n\x1aListSecretVersionsResponse\x12*\n\x08versions\x18\x01 \x03(\x0b2\x18.broker.v1.SecretVersion\x12\x17\n\x0fnext_page_token\x18\x02 \x01(\t"7\n\x13RotateSecretRequest\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12\r\n\x05value\x18\x02 \x01(\x0c"A\n\x14RotateSecretResponse\x12)\n\x07version\x18\x01 \x01(\x0b2\x18.broker.v1.SecretVersion"i\n\x13UpdateSecretRequest\x12!\n\x06secret\x18\x01 \x01(\x0b2\x11.broker.v1.Secret\x12/\n\x0bupdate_mask\x18\x02 \x01(\x0b2\x1a.google.protobuf.FieldMask"9\n\x14UpdateSecretResponse\x12!\n\x06secret\x18\x01 \x01(\x0b2\x11.broker.v1.Secret"6\n\x13DeleteSecretRequest\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12\x0c\n\x04etag\x18\x02 \x01(\t"\x16\n\x14DeleteSecretResponse"<\n\x18VerifySecretValueRequest\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12\r\n\x05value\x18\x02 \x01(\x0c"i\n\x19VerifySecretValueResponse\x12\r\n\x05valid\x18\x01 \x01(\x08\x12\x0f\n\x07version\x18\x02 \x01(\x03\x12,\n\x05state\x18\x03 \x01(\x0e2\x1d.broker.v1.SecretVersionState":\n\x12WatchSecretRequest\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12\x11\n\tafter_seq\x18\x02 \x01(\x03"\xbf\x01\n\x13WatchSecretResponse\x12\x11\n\tsecret_id\x18\x01 \x01(\t\x12.\n\nevent_type\x18\x02 \x01(\x0e2\x1a.broker.v1.SecretEventType\x12\x0f\n\x07version\x18\x03 \x01(\x03\x12\x17\n\x0fcurrent_version\x18\x04 \x01(\x03\x12.\n\nevent_time\x18\x05 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x0b\n\x03seq\x18\x06 \x01(\x03*\xb2\x01\n\x0fSecretGenerator\x12 \n\x1cSECRET_GENERATOR_UNSPECIFIED\x10\x00\x12!\n\x1dSECRET_GENERATOR_RANDOM_BYTES\x10\x01\x12\x1d\n\x19SECRET_GENERATOR_PASSWORD\x10\x02\x12\x1c\n\x18SECRET_GENERATOR_API_KEY\x10\x03\x12\x1d\n\x19SECRET_GENERATOR_EXTERNAL\x10\x04*\xa1\x01\n\x12SecretVersionState\x12$\n SECRET_VERSION_STATE_UNSPECIFIED\x10\x00\x12 \n\x1cSECRET_VERSION_STATE_CURRENT\x10\x01\x12!\n\x1dSECRET_VERSION_STATE_PREVIOUS\x10\x02\x12 \n\x1cSECRET_VERSION_STATE_EXPIRED\x10\x03*\x97\x01\n\x0fSecretEventType\x12!\n\x1dSECRET_EVENT_TYPE_UNSPECIFIED\x10\x00\x12\x1d\n\x19SECRET_EVENT_TYPE_ROTATED\x10\x01\x12#\n\x1fSECRET_EVENT_TYPE_GRACE_EXPIRED\x10\x02\x12\x1d\n\x19SECRET_EVENT_TYPE_DELETED\x10\x032\xe2\x06\n\rSecretService\x12O\n\x0cCreateSecret\x12\x1e.broker.v1.CreateSecretRequest\x1a\x1f.broker.v1.CreateSecretResponse\x12F\n\tGetSecret\x12\x1b.broker.v1.GetSecretRequest\x1a\x1c.broker.v1.GetSecretResponse\x12L\n\x0bListSecrets\x12\x1d.broker.v1.ListSecretsRequest\x1a\x1e.broker.v1.ListSecretsResponse\x12d\n\x13AccessSecretVersion\x12%.broker.v1.AccessSecretVersionRequest\x1a&.broker.v1.AccessSecretVersionResponse\x12a\n\x12ListSecretVersions\x12$.broker.v1.ListSecretVersionsRequest\x1a%.broker.v1.ListSecretVersionsResponse\x12O\n\x0cRotateSecret\x12\x1e.broker.v1.RotateSecretRequest\x1a\x1f.broker.v1.RotateSecretResponse\x12O\n\x0cUpdateSecret\x12\x1e.broker.v1.UpdateSecretRequest\x1a\x1f.broker.v1.UpdateSecretResponse\x12O\n\x0cDeleteSecret\x12\x1e.broker.v1.DeleteSecretRequest\x1a\x1f.broker.v1.DeleteSecretResponse\x12^\n\x11VerifySecretValue\x12#.broker.v1.VerifySecretValueRequest\x1a$.broker.v1.VerifySecretValueResponse\x12N\n\x0bWatchSecret\x12\x1d.broker.v1.WatchSecretRequest\x1a\x1e.broker.v1.WatchSecretResponse0\x01b\x06proto3')
_globals = globals()
_builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, _globals)
_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'broker.v1.secret_pb2', _globals)
if not _descriptor._USE_C_DESCRIPTORS:
    DESCRIPTOR._loaded_options = None
    _globals['_SECRETGENERATOR']._serialized_start = 2471
    _globals['_SECRETGENERATOR']._serialized_end = 2649
    _globals['_SECRETVERSIONSTATE']._serialized_start = 2652
    _globals['_SECRETVERSIONSTATE']._serialized_end = 2813
    _globals['_SECRETEVENTTYPE']._serialized_start = 2816
    _globals['_SECRETEVENTTYPE']._serialized_end = 2967
    _globals['_ROTATIONPOLICY']._serialized_start = 137
    _globals['_ROTATIONPOLICY']._serialized_end = 293
    _globals['_SECRET']._serialized_start = 296
    _globals['_SECRET']._serialized_end = 617
    _globals['_SECRETVERSION']._serialized_start = 620
    _globals['_SECRETVERSION']._serialized_end = 840
    _globals['_CREATESECRETREQUEST']._serialized_start = 842
    _globals['_CREATESECRETREQUEST']._serialized_end = 940
    _globals['_CREATESECRETRESPONSE']._serialized_start = 942
    _globals['_CREATESECRETRESPONSE']._serialized_end = 999
    _globals['_GETSECRETREQUEST']._serialized_start = 1001
    _globals['_GETSECRETREQUEST']._serialized_end = 1038
    _globals['_GETSECRETRESPONSE']._serialized_start = 1040
    _globals['_GETSECRETRESPONSE']._serialized_end = 1094
    _globals['_LISTSECRETSREQUEST']._serialized_start = 1096
    _globals['_LISTSECRETSREQUEST']._serialized_end = 1155
    _globals['_LISTSECRETSRESPONSE']._serialized_start = 1157
    _globals['_LISTSECRETSRESPONSE']._serialized_end = 1239
    _globals['_ACCESSSECRETVERSIONREQUEST']._serialized_start = 1241
    _globals['_ACCESSSECRETVERSIONREQUEST']._serialized_end = 1305
    _globals['_ACCESSSECRETVERSIONRESPONSE']._serialized_start = 1308
    _globals['_ACCESSSECRETVERSIONRESPONSE']._serialized_end = 1489
    _globals['_LISTSECRETVERSIONSREQUEST']._serialized_start = 1491
    _globals['_LISTSECRETVERSIONSREQUEST']._serialized_end = 1576
    _globals['_LISTSECRETVERSIONSRESPONSE']._serialized_start = 1578
    _globals['_LISTSECRETVERSIONSRESPONSE']._serialized_end = 1675
    _globals['_ROTATESECRETREQUEST']._serialized_start = 1677
    _globals['_ROTATESECRETREQUEST']._serialized_end = 1732
    _globals['_ROTATESECRETRESPONSE']._serialized_start = 1734
    _globals['_ROTATESECRETRESPONSE']._serialized_end = 1799
    _globals['_UPDATESECRETREQUEST']._serialized_start = 1801
    _globals['_UPDATESECRETREQUEST']._serialized_end = 1906
    _globals['_UPDATESECRETRESPONSE']._serialized_start = 1908
    _globals['_UPDATESECRETRESPONSE']._serialized_end = 1965
    _globals['_DELETESECRETREQUEST']._serialized_start = 1967
    _globals['_DELETESECRETREQUEST']._serialized_end = 2021
    _globals['_DELETESECRETRESPONSE']._serialized_start = 2023
    _globals['_DELETESECRETRESPONSE']._serialized_end = 2045
    _globals['_VERIFYSECRETVALUEREQUEST']._serialized_start = 2047
    _globals['_VERIFYSECRETVALUEREQUEST']._serialized_end = 2107
    _globals['_VERIFYSECRETVALUERESPONSE']._serialized_start = 2109
    _globals['_VERIFYSECRETVALUERESPONSE']._serialized_end = 2214
    _globals['_WATCHSECRETREQUEST']._serialized_start = 2216
    _globals['_WATCHSECRETREQUEST']._serialized_end = 2274
    _globals['_WATCHSECRETRESPONSE']._serialized_start = 2277
    _globals['_WATCHSECRETRESPONSE']._serialized_end = 2468
    _globals['_SECRETSERVICE']._serialized_start = 2970
    _globals['_SECRETSERVICE']._serialized_end = 3836