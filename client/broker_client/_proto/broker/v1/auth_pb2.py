"""Generated protocol buffer code."""
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pool as _descriptor_pool
from google.protobuf import runtime_version as _runtime_version
from google.protobuf import symbol_database as _symbol_database
from google.protobuf.internal import builder as _builder
_runtime_version.ValidateProtobufRuntimeVersion(_runtime_version.Domain.PUBLIC, 5, 29, 0, '', 'broker/v1/auth.proto')
_sym_db = _symbol_database.Default()
from ...broker.v1 import audit_pb2 as broker_dot_v1_dot_audit__pb2
from google.protobuf import field_mask_pb2 as google_dot_protobuf_dot_field__mask__pb2
from google.protobuf import timestamp_pb2 as google_dot_protobuf_dot_timestamp__pb2
DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'\n\x14broker/v1/auth.proto\x12\tbroker.v1\x1a\x15broker/v1/audit.proto\x1a google/protobuf/field_mask.proto\x1a\x1fgoogle/protobuf/timestamp.proto"b\n\x0cLoginRequest\x12\x10\n\x08username\x18\x01 \x01(\t\x12\x10\n\x08password\x18\x02 \x01(\t\x12\x0b\n\x03otp\x18\x03 \x01(\t\x12\x0e\n\x06scopes\x18\x04 \x03(\t\x12\x11\n\taudiences\x18\x05 \x03(\t"\xa4\x01\n\rLoginResponse\x12\x14\n\x0caccess_token\x18\x01 \x01(\t\x12\x15\n\rrefresh_token\x18\x02 \x01(\t\x12.\n\nexpires_at\x18\x03 \x01(\x0b2\x1a.google.protobuf.Timestamp\x126\n\x12refresh_expires_at\x18\x04 \x01(\x0b2\x1a.google.protobuf.Timestamp",\n\x13RefreshTokenRequest\x12\x15\n\rrefresh_token\x18\x01 \x01(\t"\xab\x01\n\x14RefreshTokenResponse\x12\x14\n\x0caccess_token\x18\x01 \x01(\t\x12\x15\n\rrefresh_token\x18\x02 \x01(\t\x12.\n\nexpires_at\x18\x03 \x01(\x0b2\x1a.google.protobuf.Timestamp\x126\n\x12refresh_expires_at\x18\x04 \x01(\x0b2\x1a.google.protobuf.Timestamp"&\n\rLogoutRequest\x12\x15\n\rrefresh_token\x18\x01 \x01(\t"\x10\n\x0eLogoutResponse"G\n\x15ChangePasswordRequest\x12\x18\n\x10current_password\x18\x01 \x01(\t\x12\x14\n\x0cnew_password\x18\x02 \x01(\t"\x18\n\x16ChangePasswordResponse"T\n\x16RedeemSetupCodeRequest\x12\x10\n\x08username\x18\x01 \x01(\t\x12\x12\n\nsetup_code\x18\x02 \x01(\t\x12\x14\n\x0cnew_password\x18\x03 \x01(\t"\xae\x01\n\x17RedeemSetupCodeResponse\x12\x14\n\x0caccess_token\x18\x01 \x01(\t\x12\x15\n\rrefresh_token\x18\x02 \x01(\t\x12.\n\nexpires_at\x18\x03 \x01(\x0b2\x1a.google.protobuf.Timestamp\x126\n\x12refresh_expires_at\x18\x04 \x01(\x0b2\x1a.google.protobuf.Timestamp"\x12\n\x10EnrollMfaRequest"(\n\x11EnrollMfaResponse\x12\x13\n\x0botpauth_uri\x18\x01 \x01(\t"!\n\x11ConfirmMfaRequest\x12\x0c\n\x04code\x18\x01 \x01(\t",\n\x12ConfirmMfaResponse\x12\x16\n\x0erecovery_codes\x18\x01 \x03(\t"\xc4\x02\n\x04User\x12\x10\n\x08username\x18\x01 \x01(\t\x12\x14\n\x0cdisplay_name\x18\x02 \x01(\t\x12\x0e\n\x06tenant\x18\x03 \x01(\t\x12\x16\n\x0eallowed_scopes\x18\x04 \x03(\t\x12\x10\n\x08disabled\x18\x05 \x01(\x08\x12\x13\n\x0bmfa_enabled\x18\x06 \x01(\x08\x12/\n\x0bcreate_time\x18\x07 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12/\n\x0bupdate_time\x18\x08 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x0c\n\x04etag\x18\t \x01(\t\x12\x19\n\x11allowed_audiences\x18\n \x03(\t\x12\x0e\n\x06locked\x18\x0b \x01(\x08\x12\x14\n\x0chas_password\x18\x0c \x01(\x08\x12\x14\n\x0cmfa_required\x18\r \x01(\x08"D\n\x11CreateUserRequest\x12\x1d\n\x04user\x18\x01 \x01(\x0b2\x0f.broker.v1.User\x12\x10\n\x08password\x18\x02 \x01(\t"G\n\x12CreateUserResponse\x12\x1d\n\x04user\x18\x01 \x01(\x0b2\x0f.broker.v1.User\x12\x12\n\nsetup_code\x18\x02 \x01(\t""\n\x0eGetUserRequest\x12\x10\n\x08username\x18\x01 \x01(\t"0\n\x0fGetUserResponse\x12\x1d\n\x04user\x18\x01 \x01(\x0b2\x0f.broker.v1.User"I\n\x10ListUsersRequest\x12\x11\n\tpage_size\x18\x01 \x01(\x05\x12\x12\n\npage_token\x18\x02 \x01(\t\x12\x0e\n\x06filter\x18\x03 \x01(\t"L\n\x11ListUsersResponse\x12\x1e\n\x05users\x18\x01 \x03(\x0b2\x0f.broker.v1.User\x12\x17\n\x0fnext_page_token\x18\x02 \x01(\t"u\n\x11UpdateUserRequest\x12\x1d\n\x04user\x18\x01 \x01(\x0b2\x0f.broker.v1.User\x12/\n\x0bupdate_mask\x18\x02 \x01(\x0b2\x1a.google.protobuf.FieldMask\x12\x10\n\x08password\x18\x03 \x01(\t"3\n\x12UpdateUserResponse\x12\x1d\n\x04user\x18\x01 \x01(\x0b2\x0f.broker.v1.User"3\n\x11DeleteUserRequest\x12\x10\n\x08username\x18\x01 \x01(\t\x12\x0c\n\x04etag\x18\x02 \x01(\t"\x14\n\x12DeleteUserResponse"%\n\x11UnlockUserRequest\x12\x10\n\x08username\x18\x01 \x01(\t"\x14\n\x12UnlockUserResponse"\'\n\x13ResetUserMfaRequest\x12\x10\n\x08username\x18\x01 \x01(\t"\x16\n\x14ResetUserMfaResponse"%\n\x11ExportUserRequest\x12\x10\n\x08username\x18\x01 \x01(\t"\x9d\x02\n\x07Session\x12\n\n\x02id\x18\x01 \x01(\t\x12\x0e\n\x06scopes\x18\x02 \x03(\t\x12\x11\n\taudiences\x18\x03 \x03(\t\x12\x0b\n\x03amr\x18\x04 \x03(\t\x12/\n\x0bcreate_time\x18\x05 \x01(\x0b2\x1a.google.protobuf.Timestamp\x122\n\x0elast_used_time\x18\x06 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12/\n\x0bexpire_time\x18\x07 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12,\n\x08end_time\x18\x08 \x01(\x0b2\x1a.google.protobuf.Timestamp\x12\x12\n\nend_reason\x18\t \x01(\t"\x99\x01\n\x12ExportUserResponse\x12\x1d\n\x04user\x18\x01 \x01(\x0b2\x0f.broker.v1.User\x12$\n\x08sessions\x18\x02 \x03(\x0b2\x12.broker.v1.Session\x12+\n\x0caudit_events\x18\x03 \x03(\x0b2\x15.broker.v1.AuditEvent\x12\x11\n\ttruncated\x18\x04 \x01(\x082\x9d\x04\n\x0bAuthService\x12:\n\x05Login\x12\x17.broker.v1.LoginRequest\x1a\x18.broker.v1.LoginResponse\x12O\n\x0cRefreshToken\x12\x1e.broker.v1.RefreshTokenRequest\x1a\x1f.broker.v1.RefreshTokenResponse\x12=\n\x06Logout\x12\x18.broker.v1.LogoutRequest\x1a\x19.broker.v1.LogoutResponse\x12U\n\x0eChangePassword\x12 .broker.v1.ChangePasswordRequest\x1a!.broker.v1.ChangePasswordResponse\x12F\n\tEnrollMfa\x12\x1b.broker.v1.EnrollMfaRequest\x1a\x1c.broker.v1.EnrollMfaResponse\x12I\n\nConfirmMfa\x12\x1c.broker.v1.ConfirmMfaRequest\x1a\x1d.broker.v1.ConfirmMfaResponse\x12X\n\x0fRedeemSetupCode\x12!.broker.v1.RedeemSetupCodeRequest\x1a".broker.v1.RedeemSetupCodeResponse2\xdf\x04\n\x0bUserService\x12I\n\nCreateUser\x12\x1c.broker.v1.CreateUserRequest\x1a\x1d.broker.v1.CreateUserResponse\x12@\n\x07GetUser\x12\x19.broker.v1.GetUserRequest\x1a\x1a.broker.v1.GetUserResponse\x12F\n\tListUsers\x12\x1b.broker.v1.ListUsersRequest\x1a\x1c.broker.v1.ListUsersResponse\x12I\n\nUpdateUser\x12\x1c.broker.v1.UpdateUserRequest\x1a\x1d.broker.v1.UpdateUserResponse\x12I\n\nDeleteUser\x12\x1c.broker.v1.DeleteUserRequest\x1a\x1d.broker.v1.DeleteUserResponse\x12I\n\nUnlockUser\x12\x1c.broker.v1.UnlockUserRequest\x1a\x1d.broker.v1.UnlockUserResponse\x12O\n\x0cResetUserMfa\x12\x1e.broker.v1.ResetUserMfaRequest\x1a\x1f.broker.v1.ResetUserMfaResponse\x12I\n\nExportUser\x12\x1c.broker.v1.ExportUserRequest\x1a\x1d.broker.v1.ExportUserResponseb\x06proto3')
_globals = globals()
_builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, _globals)
_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'broker.v1.auth_pb2', _globals)
if not _descriptor._USE_C_DESCRIPTORS:
    DESCRIPTOR._loaded_options = None
    _globals['_LOGINREQUEST']._serialized_start = 125
    _globals['_LOGINREQUEST']._serialized_end = 223
    _globals['_LOGINRESPONSE']._serialized_start = 226
    _globals['_LOGINRESPONSE']._serialized_end = 390
    _globals['_REFRESHTOKENREQUEST']._serialized_start = 392
    _globals['_REFRESHTOKENREQUEST']._serialized_end = 436
    _globals['_REFRESHTOKENRESPONSE']._serialized_start = 439
    _globals['_REFRESHTOKENRESPONSE']._serialized_end = 610
    _globals['_LOGOUTREQUEST']._serialized_start = 612
    _globals['_LOGOUTREQUEST']._serialized_end = 650
    _globals['_LOGOUTRESPONSE']._serialized_start = 652
    _globals['_LOGOUTRESPONSE']._serialized_end = 668
    _globals['_CHANGEPASSWORDREQUEST']._serialized_start = 670
    _globals['_CHANGEPASSWORDREQUEST']._serialized_end = 741
    _globals['_CHANGEPASSWORDRESPONSE']._serialized_start = 743
    _globals['_CHANGEPASSWORDRESPONSE']._serialized_end = 767
    _globals['_REDEEMSETUPCODEREQUEST']._serialized_start = 769
    _globals['_REDEEMSETUPCODEREQUEST']._serialized_end = 853
    _globals['_REDEEMSETUPCODERESPONSE']._serialized_start = 856
    _globals['_REDEEMSETUPCODERESPONSE']._serialized_end = 1030
    _globals['_ENROLLMFAREQUEST']._serialized_start = 1032
    _globals['_ENROLLMFAREQUEST']._serialized_end = 1050
    _globals['_ENROLLMFARESPONSE']._serialized_start = 1052
    _globals['_ENROLLMFARESPONSE']._serialized_end = 1092
    _globals['_CONFIRMMFAREQUEST']._serialized_start = 1094
    _globals['_CONFIRMMFAREQUEST']._serialized_end = 1127
    _globals['_CONFIRMMFARESPONSE']._serialized_start = 1129
    _globals['_CONFIRMMFARESPONSE']._serialized_end = 1173
    _globals['_USER']._serialized_start = 1176
    _globals['_USER']._serialized_end = 1500
    _globals['_CREATEUSERREQUEST']._serialized_start = 1502
    _globals['_CREATEUSERREQUEST']._serialized_end = 1570
    _globals['_CREATEUSERRESPONSE']._serialized_start = 1572
    _globals['_CREATEUSERRESPONSE']._serialized_end = 1643
    _globals['_GETUSERREQUEST']._serialized_start = 1645
    _globals['_GETUSERREQUEST']._serialized_end = 1679
    _globals['_GETUSERRESPONSE']._serialized_start = 1681
    _globals['_GETUSERRESPONSE']._serialized_end = 1729
    _globals['_LISTUSERSREQUEST']._serialized_start = 1731
    _globals['_LISTUSERSREQUEST']._serialized_end = 1804
    _globals['_LISTUSERSRESPONSE']._serialized_start = 1806
    _globals['_LISTUSERSRESPONSE']._serialized_end = 1882
    _globals['_UPDATEUSERREQUEST']._serialized_start = 1884
    _globals['_UPDATEUSERREQUEST']._serialized_end = 2001
    _globals['_UPDATEUSERRESPONSE']._serialized_start = 2003
    _globals['_UPDATEUSERRESPONSE']._serialized_end = 2054
    _globals['_DELETEUSERREQUEST']._serialized_start = 2056
    _globals['_DELETEUSERREQUEST']._serialized_end = 2107
    _globals['_DELETEUSERRESPONSE']._serialized_start = 2109
    _globals['_DELETEUSERRESPONSE']._serialized_end = 2129
    _globals['_UNLOCKUSERREQUEST']._serialized_start = 2131
    _globals['_UNLOCKUSERREQUEST']._serialized_end = 2168
    _globals['_UNLOCKUSERRESPONSE']._serialized_start = 2170
    _globals['_UNLOCKUSERRESPONSE']._serialized_end = 2190
    _globals['_RESETUSERMFAREQUEST']._serialized_start = 2192
    _globals['_RESETUSERMFAREQUEST']._serialized_end = 2231
    _globals['_RESETUSERMFARESPONSE']._serialized_start = 2233
    _globals['_RESETUSERMFARESPONSE']._serialized_end = 2255
    _globals['_EXPORTUSERREQUEST']._serialized_start = 2257
    _globals['_EXPORTUSERREQUEST']._serialized_end = 2294
    _globals['_SESSION']._serialized_start = 2297
    _globals['_SESSION']._serialized_end = 2582
    _globals['_EXPORTUSERRESPONSE']._serialized_start = 2585
    _globals['_EXPORTUSERRESPONSE']._serialized_end = 2738
    _globals['_AUTHSERVICE']._serialized_start = 2741
    _globals['_AUTHSERVICE']._serialized_end = 3282
    _globals['_USERSERVICE']._serialized_start = 3285
    _globals['_USERSERVICE']._serialized_end = 3892