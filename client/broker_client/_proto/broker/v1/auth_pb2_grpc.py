"""Client and server classes corresponding to protobuf-defined services."""
import grpc
import warnings
from ...broker.v1 import auth_pb2 as broker_dot_v1_dot_auth__pb2
GRPC_GENERATED_VERSION = '1.71.2'
GRPC_VERSION = grpc.__version__
_version_not_supported = False
try:
    from grpc._utilities import first_version_is_lower
    _version_not_supported = first_version_is_lower(GRPC_VERSION, GRPC_GENERATED_VERSION)
except ImportError:
    _version_not_supported = True
if _version_not_supported:
    raise RuntimeError(f'The grpc package installed is at version {GRPC_VERSION},' + f' but the generated code in broker/v1/auth_pb2_grpc.py depends on' + f' grpcio>={GRPC_GENERATED_VERSION}.' + f' Please upgrade your grpc module to grpcio>={GRPC_GENERATED_VERSION}' + f' or downgrade your generated code using grpcio-tools<={GRPC_VERSION}.')

class AuthServiceStub(object):
    """AuthService logs people in on the same token core as machines.
    """

    def __init__(self, channel):
        """Constructor.

        Args:
            channel: A grpc.Channel.
        """
        self.Login = channel.unary_unary('/broker.v1.AuthService/Login', request_serializer=broker_dot_v1_dot_auth__pb2.LoginRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.LoginResponse.FromString, _registered_method=True)
        self.RefreshToken = channel.unary_unary('/broker.v1.AuthService/RefreshToken', request_serializer=broker_dot_v1_dot_auth__pb2.RefreshTokenRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.RefreshTokenResponse.FromString, _registered_method=True)
        self.Logout = channel.unary_unary('/broker.v1.AuthService/Logout', request_serializer=broker_dot_v1_dot_auth__pb2.LogoutRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.LogoutResponse.FromString, _registered_method=True)
        self.ChangePassword = channel.unary_unary('/broker.v1.AuthService/ChangePassword', request_serializer=broker_dot_v1_dot_auth__pb2.ChangePasswordRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.ChangePasswordResponse.FromString, _registered_method=True)
        self.EnrollMfa = channel.unary_unary('/broker.v1.AuthService/EnrollMfa', request_serializer=broker_dot_v1_dot_auth__pb2.EnrollMfaRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.EnrollMfaResponse.FromString, _registered_method=True)
        self.ConfirmMfa = channel.unary_unary('/broker.v1.AuthService/ConfirmMfa', request_serializer=broker_dot_v1_dot_auth__pb2.ConfirmMfaRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.ConfirmMfaResponse.FromString, _registered_method=True)
        self.RedeemSetupCode = channel.unary_unary('/broker.v1.AuthService/RedeemSetupCode', request_serializer=broker_dot_v1_dot_auth__pb2.RedeemSetupCodeRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.RedeemSetupCodeResponse.FromString, _registered_method=True)

class AuthServiceServicer(object):
    """AuthService logs people in on the same token core as machines.
    """

    def Login(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def RefreshToken(self, request, context):
        """RefreshToken swaps a refresh token for a new pair; the old one dies, and
        reuse of a dead one revokes its whole family.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def Logout(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def ChangePassword(self, request, context):
        """ChangePassword: the caller (a person's bearer token) proves the current password
        and sets a new one; every refresh family of the person ends.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def EnrollMfa(self, request, context):
        """EnrollMfa starts TOTP enrolment for the caller (a person's own token): a new
        seed, not yet in force, as an otpauth:// URI for an authenticator app.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def ConfirmMfa(self, request, context):
        """ConfirmMfa turns the pending seed on with its first valid code and returns the
        recovery codes, the only time they are shown.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def RedeemSetupCode(self, request, context):
        """RedeemSetupCode: a person created without a password proves the one-time
        setup code an admin gave them, chooses a password and is logged in.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

def add_AuthServiceServicer_to_server(servicer, server):
    rpc_method_handlers = {'Login': grpc.unary_unary_rpc_method_handler(servicer.Login, request_deserializer=broker_dot_v1_dot_auth__pb2.LoginRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.LoginResponse.SerializeToString), 'RefreshToken': grpc.unary_unary_rpc_method_handler(servicer.RefreshToken, request_deserializer=broker_dot_v1_dot_auth__pb2.RefreshTokenRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.RefreshTokenResponse.SerializeToString), 'Logout': grpc.unary_unary_rpc_method_handler(servicer.Logout, request_deserializer=broker_dot_v1_dot_auth__pb2.LogoutRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.LogoutResponse.SerializeToString), 'ChangePassword': grpc.unary_unary_rpc_method_handler(servicer.ChangePassword, request_deserializer=broker_dot_v1_dot_auth__pb2.ChangePasswordRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.ChangePasswordResponse.SerializeToString), 'EnrollMfa': grpc.unary_unary_rpc_method_handler(servicer.EnrollMfa, request_deserializer=broker_dot_v1_dot_auth__pb2.EnrollMfaRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.EnrollMfaResponse.SerializeToString), 'ConfirmMfa': grpc.unary_unary_rpc_method_handler(servicer.ConfirmMfa, request_deserializer=broker_dot_v1_dot_auth__pb2.ConfirmMfaRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.ConfirmMfaResponse.SerializeToString), 'RedeemSetupCode': grpc.unary_unary_rpc_method_handler(servicer.RedeemSetupCode, request_deserializer=broker_dot_v1_dot_auth__pb2.RedeemSetupCodeRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.RedeemSetupCodeResponse.SerializeToString)}
    generic_handler = grpc.method_handlers_generic_handler('broker.v1.AuthService', rpc_method_handlers)
    server.add_generic_rpc_handlers((generic_handler,))
    server.add_registered_method_handlers('broker.v1.AuthService', rpc_method_handlers)

class AuthService(object):
    """AuthService logs people in on the same token core as machines.
    """

    @staticmethod
    def Login(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.AuthService/Login', broker_dot_v1_dot_auth__pb2.LoginRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.LoginResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def RefreshToken(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.AuthService/RefreshToken', broker_dot_v1_dot_auth__pb2.RefreshTokenRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.RefreshTokenResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def Logout(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.AuthService/Logout', broker_dot_v1_dot_auth__pb2.LogoutRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.LogoutResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def ChangePassword(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.AuthService/ChangePassword', broker_dot_v1_dot_auth__pb2.ChangePasswordRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.ChangePasswordResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def EnrollMfa(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.AuthService/EnrollMfa', broker_dot_v1_dot_auth__pb2.EnrollMfaRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.EnrollMfaResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def ConfirmMfa(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.AuthService/ConfirmMfa', broker_dot_v1_dot_auth__pb2.ConfirmMfaRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.ConfirmMfaResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def RedeemSetupCode(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.AuthService/RedeemSetupCode', broker_dot_v1_dot_auth__pb2.RedeemSetupCodeRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.RedeemSetupCodeResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

class UserServiceStub(object):
    """UserService manages people. Needs scope broker.admin.
    """

    def __init__(self, channel):
        """Constructor.

        Args:
            channel: A grpc.Channel.
        """
        self.CreateUser = channel.unary_unary('/broker.v1.UserService/CreateUser', request_serializer=broker_dot_v1_dot_auth__pb2.CreateUserRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.CreateUserResponse.FromString, _registered_method=True)
        self.GetUser = channel.unary_unary('/broker.v1.UserService/GetUser', request_serializer=broker_dot_v1_dot_auth__pb2.GetUserRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.GetUserResponse.FromString, _registered_method=True)
        self.ListUsers = channel.unary_unary('/broker.v1.UserService/ListUsers', request_serializer=broker_dot_v1_dot_auth__pb2.ListUsersRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.ListUsersResponse.FromString, _registered_method=True)
        self.UpdateUser = channel.unary_unary('/broker.v1.UserService/UpdateUser', request_serializer=broker_dot_v1_dot_auth__pb2.UpdateUserRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.UpdateUserResponse.FromString, _registered_method=True)
        self.DeleteUser = channel.unary_unary('/broker.v1.UserService/DeleteUser', request_serializer=broker_dot_v1_dot_auth__pb2.DeleteUserRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.DeleteUserResponse.FromString, _registered_method=True)
        self.UnlockUser = channel.unary_unary('/broker.v1.UserService/UnlockUser', request_serializer=broker_dot_v1_dot_auth__pb2.UnlockUserRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.UnlockUserResponse.FromString, _registered_method=True)
        self.ResetUserMfa = channel.unary_unary('/broker.v1.UserService/ResetUserMfa', request_serializer=broker_dot_v1_dot_auth__pb2.ResetUserMfaRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.ResetUserMfaResponse.FromString, _registered_method=True)
        self.ExportUser = channel.unary_unary('/broker.v1.UserService/ExportUser', request_serializer=broker_dot_v1_dot_auth__pb2.ExportUserRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_auth__pb2.ExportUserResponse.FromString, _registered_method=True)

class UserServiceServicer(object):
    """UserService manages people. Needs scope broker.admin.
    """

    def CreateUser(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def GetUser(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def ListUsers(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def UpdateUser(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def DeleteUser(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def UnlockUser(self, request, context):
        """UnlockUser clears a lockout (and the failed-login count) of the user name.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def ResetUserMfa(self, request, context):
        """ResetUserMfa removes the user's second factor, so they may enrol again.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def ExportUser(self, request, context):
        """ExportUser: everything the broker holds about the user (GDPR art. 15): the
        profile, their logins and the audit events naming them.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

def add_UserServiceServicer_to_server(servicer, server):
    rpc_method_handlers = {'CreateUser': grpc.unary_unary_rpc_method_handler(servicer.CreateUser, request_deserializer=broker_dot_v1_dot_auth__pb2.CreateUserRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.CreateUserResponse.SerializeToString), 'GetUser': grpc.unary_unary_rpc_method_handler(servicer.GetUser, request_deserializer=broker_dot_v1_dot_auth__pb2.GetUserRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.GetUserResponse.SerializeToString), 'ListUsers': grpc.unary_unary_rpc_method_handler(servicer.ListUsers, request_deserializer=broker_dot_v1_dot_auth__pb2.ListUsersRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.ListUsersResponse.SerializeToString), 'UpdateUser': grpc.unary_unary_rpc_method_handler(servicer.UpdateUser, request_deserializer=broker_dot_v1_dot_auth__pb2.UpdateUserRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.UpdateUserResponse.SerializeToString), 'DeleteUser': grpc.unary_unary_rpc_method_handler(servicer.DeleteUser, request_deserializer=broker_dot_v1_dot_auth__pb2.DeleteUserRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.DeleteUserResponse.SerializeToString), 'UnlockUser': grpc.unary_unary_rpc_method_handler(servicer.UnlockUser, request_deserializer=broker_dot_v1_dot_auth__pb2.UnlockUserRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.UnlockUserResponse.SerializeToString), 'ResetUserMfa': grpc.unary_unary_rpc_method_handler(servicer.ResetUserMfa, request_deserializer=broker_dot_v1_dot_auth__pb2.ResetUserMfaRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.ResetUserMfaResponse.SerializeToString), 'ExportUser': grpc.unary_unary_rpc_method_handler(servicer.ExportUser, request_deserializer=broker_dot_v1_dot_auth__pb2.ExportUserRequest.FromString, response_serializer=broker_dot_v1_dot_auth__pb2.ExportUserResponse.SerializeToString)}
    generic_handler = grpc.method_handlers_generic_handler('broker.v1.UserService', rpc_method_handlers)
    server.add_generic_rpc_handlers((generic_handler,))
    server.add_registered_method_handlers('broker.v1.UserService', rpc_method_handlers)

class UserService(object):
    """UserService manages people. Needs scope broker.admin.
    """

    @staticmethod
    def CreateUser(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.UserService/CreateUser', broker_dot_v1_dot_auth__pb2.CreateUserRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.CreateUserResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def GetUser(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.UserService/GetUser', broker_dot_v1_dot_auth__pb2.GetUserRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.GetUserResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def ListUsers(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.UserService/ListUsers', broker_dot_v1_dot_auth__pb2.ListUsersRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.ListUsersResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def UpdateUser(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.UserService/UpdateUser', broker_dot_v1_dot_auth__pb2.UpdateUserRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.UpdateUserResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def DeleteUser(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.UserService/DeleteUser', broker_dot_v1_dot_auth__pb2.DeleteUserRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.DeleteUserResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def UnlockUser(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.UserService/UnlockUser', broker_dot_v1_dot_auth__pb2.UnlockUserRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.UnlockUserResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def ResetUserMfa(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.UserService/ResetUserMfa', broker_dot_v1_dot_auth__pb2.ResetUserMfaRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.ResetUserMfaResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def ExportUser(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.UserService/ExportUser', broker_dot_v1_dot_auth__pb2.ExportUserRequest.SerializeToString, broker_dot_v1_dot_auth__pb2.ExportUserResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)