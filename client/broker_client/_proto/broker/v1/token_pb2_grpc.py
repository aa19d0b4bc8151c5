"""Client and server classes corresponding to protobuf-defined services."""
import grpc
import warnings
from ...broker.v1 import token_pb2 as broker_dot_v1_dot_token__pb2
GRPC_GENERATED_VERSION = '1.71.2'
GRPC_VERSION = grpc.__version__
_version_not_supported = False
try:
    from grpc._utilities import first_version_is_lower
    _version_not_supported = first_version_is_lower(GRPC_VERSION, GRPC_GENERATED_VERSION)
except ImportError:
    _version_not_supported = True
if _version_not_supported:
    raise RuntimeError(f'The grpc package installed is at version {GRPC_VERSION},' + f' but the generated code in broker/v1/token_pb2_grpc.py depends on' + f' grpcio>={GRPC_GENERATED_VERSION}.' + f' Please upgrade your grpc module to grpcio>={GRPC_GENERATED_VERSION}' + f' or downgrade your generated code using grpcio-tools<={GRPC_VERSION}.')

class TokenServiceStub(object):
    """TokenService exchanges attestations for short-lived, scoped, audience-bound
    JWTs (RFC 8693 vocabulary), and introspects and revokes them.
    """

    def __init__(self, channel):
        """Constructor.

        Args:
            channel: A grpc.Channel.
        """
        self.ExchangeToken = channel.unary_unary('/broker.v1.TokenService/ExchangeToken', request_serializer=broker_dot_v1_dot_token__pb2.ExchangeTokenRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_token__pb2.ExchangeTokenResponse.FromString, _registered_method=True)
        self.IntrospectToken = channel.unary_unary('/broker.v1.TokenService/IntrospectToken', request_serializer=broker_dot_v1_dot_token__pb2.IntrospectTokenRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_token__pb2.IntrospectTokenResponse.FromString, _registered_method=True)
        self.RevokeToken = channel.unary_unary('/broker.v1.TokenService/RevokeToken', request_serializer=broker_dot_v1_dot_token__pb2.RevokeTokenRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_token__pb2.RevokeTokenResponse.FromString, _registered_method=True)
        self.GetJwks = channel.unary_unary('/broker.v1.TokenService/GetJwks', request_serializer=broker_dot_v1_dot_token__pb2.GetJwksRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_token__pb2.GetJwksResponse.FromString, _registered_method=True)

class TokenServiceServicer(object):
    """TokenService exchanges attestations for short-lived, scoped, audience-bound
    JWTs (RFC 8693 vocabulary), and introspects and revokes them.
    """

    def ExchangeToken(self, request, context):
        """ExchangeToken verifies subject_token (and actor_token, for delegation)
        and mints an access token. The only RPC that needs no broker token.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def IntrospectToken(self, request, context):
        """IntrospectToken answers RFC 7662 style: active=false for any token that
        is expired, revoked, not yet valid, badly signed or foreign.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def RevokeToken(self, request, context):
        """RevokeToken makes a token's jti dead until its exp.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def GetJwks(self, request, context):
        """GetJwks returns the broker's public signing keys as a JWK Set.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

def add_TokenServiceServicer_to_server(servicer, server):
    rpc_method_handlers = {'ExchangeToken': grpc.unary_unary_rpc_method_handler(servicer.ExchangeToken, request_deserializer=broker_dot_v1_dot_token__pb2.ExchangeTokenRequest.FromString, response_serializer=broker_dot_v1_dot_token__pb2.ExchangeTokenResponse.SerializeToString), 'IntrospectToken': grpc.unary_unary_rpc_method_handler(servicer.IntrospectToken, request_deserializer=broker_dot_v1_dot_token__pb2.IntrospectTokenRequest.FromString, response_serializer=broker_dot_v1_dot_token__pb2.IntrospectTokenResponse.SerializeToString), 'RevokeToken': grpc.unary_unary_rpc_method_handler(servicer.RevokeToken, request_deserializer=broker_dot_v1_dot_token__pb2.RevokeTokenRequest.FromString, response_serializer=broker_dot_v1_dot_token__pb2.RevokeTokenResponse.SerializeToString), 'GetJwks': grpc.unary_unary_rpc_method_handler(servicer.GetJwks, request_deserializer=broker_dot_v1_dot_token__pb2.GetJwksRequest.FromString, response_serializer=broker_dot_v1_dot_token__pb2.GetJwksResponse.SerializeToString)}
    generic_handler = grpc.method_handlers_generic_handler('broker.v1.TokenService', rpc_method_handlers)
    server.add_generic_rpc_handlers((generic_handler,))
    server.add_registered_method_handlers('broker.v1.TokenService', rpc_method_handlers)

class TokenService(object):
    """TokenService exchanges attestations for short-lived, scoped, audience-bound
    JWTs (RFC 8693 vocabulary), and introspects and revokes them.
    """

    @staticmethod
    def ExchangeToken(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.TokenService/ExchangeToken', broker_dot_v1_dot_token__pb2.ExchangeTokenRequest.SerializeToString, broker_dot_v1_dot_token__pb2.ExchangeTokenResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def IntrospectToken(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.TokenService/IntrospectToken', broker_dot_v1_dot_token__pb2.IntrospectTokenRequest.SerializeToString, broker_dot_v1_dot_token__pb2.IntrospectTokenResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def RevokeToken(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.TokenService/RevokeToken', broker_dot_v1_dot_token__pb2.RevokeTokenRequest.SerializeToString, broker_dot_v1_dot_token__pb2.RevokeTokenResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def GetJwks(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.TokenService/GetJwks', broker_dot_v1_dot_token__pb2.GetJwksRequest.SerializeToString, broker_dot_v1_dot_token__pb2.GetJwksResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)