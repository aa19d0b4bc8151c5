"""Client and server classes corresponding to protobuf-defined services."""
import grpc
import warnings
from ...broker.v1 import issuer_pb2 as broker_dot_v1_dot_issuer__pb2
GRPC_GENERATED_VERSION = '1.71.2'
GRPC_VERSION = grpc.__version__
_version_not_supported = False
try:
    from grpc._utilities import first_version_is_lower
    _version_not_supported = first_version_is_lower(GRPC_VERSION, GRPC_GENERATED_VERSION)
except ImportError:
    _version_not_supported = True
if _version_not_supported:
    raise RuntimeError(f'The grpc package installed is at version {GRPC_VERSION},' + f' but the generated code in broker/v1/issuer_pb2_grpc.py depends on' + f' grpcio>={GRPC_GENERATED_VERSION}.' + f' Please upgrade your grpc module to grpcio>={GRPC_GENERATED_VERSION}' + f' or downgrade your generated code using grpcio-tools<={GRPC_VERSION}.')

class IssuerServiceStub(object):
    """IssuerService manages trusted external issuers (Kubernetes, CI OIDC, agent
    runtimes) whose JWTs the broker accepts as attestations. Needs scope broker.admin.
    """

    def __init__(self, channel):
        """Constructor.

        Args:
            channel: A grpc.Channel.
        """
        self.CreateIssuer = channel.unary_unary('/broker.v1.IssuerService/CreateIssuer', request_serializer=broker_dot_v1_dot_issuer__pb2.CreateIssuerRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_issuer__pb2.CreateIssuerResponse.FromString, _registered_method=True)
        self.GetIssuer = channel.unary_unary('/broker.v1.IssuerService/GetIssuer', request_serializer=broker_dot_v1_dot_issuer__pb2.GetIssuerRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_issuer__pb2.GetIssuerResponse.FromString, _registered_method=True)
        self.ListIssuers = channel.unary_unary('/broker.v1.IssuerService/ListIssuers', request_serializer=broker_dot_v1_dot_issuer__pb2.ListIssuersRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_issuer__pb2.ListIssuersResponse.FromString, _registered_method=True)
        self.DeleteIssuer = channel.unary_unary('/broker.v1.IssuerService/DeleteIssuer', request_serializer=broker_dot_v1_dot_issuer__pb2.DeleteIssuerRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_issuer__pb2.DeleteIssuerResponse.FromString, _registered_method=True)

class IssuerServiceServicer(object):
    """IssuerService manages trusted external issuers (Kubernetes, CI OIDC, agent
    runtimes) whose JWTs the broker accepts as attestations. Needs scope broker.admin.
    """

    def CreateIssuer(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def GetIssuer(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def ListIssuers(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def DeleteIssuer(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

def add_IssuerServiceServicer_to_server(servicer, server):
    rpc_method_handlers = {'CreateIssuer': grpc.unary_unary_rpc_method_handler(servicer.CreateIssuer, request_deserializer=broker_dot_v1_dot_issuer__pb2.CreateIssuerRequest.FromString, response_serializer=broker_dot_v1_dot_issuer__pb2.CreateIssuerResponse.SerializeToString), 'GetIssuer': grpc.unary_unary_rpc_method_handler(servicer.GetIssuer, request_deserializer=broker_dot_v1_dot_issuer__pb2.GetIssuerRequest.FromString, response_serializer=broker_dot_v1_dot_issuer__pb2.GetIssuerResponse.SerializeToString), 'ListIssuers': grpc.unary_unary_rpc_method_handler(servicer.ListIssuers, request_deserializer=broker_dot_v1_dot_issuer__pb2.ListIssuersRequest.FromString, response_serializer=broker_dot_v1_dot_issuer__pb2.ListIssuersResponse.SerializeToString), 'DeleteIssuer': grpc.unary_unary_rpc_method_handler(servicer.DeleteIssuer, request_deserializer=broker_dot_v1_dot_issuer__pb2.DeleteIssuerRequest.FromString, response_serializer=broker_dot_v1_dot_issuer__pb2.DeleteIssuerResponse.SerializeToString)}
    generic_handler = grpc.method_handlers_generic_handler('broker.v1.IssuerService', rpc_method_handlers)
    server.add_generic_rpc_handlers((generic_handler,))
    server.add_registered_method_handlers('broker.v1.IssuerService', rpc_method_handlers)

class IssuerService(object):
    """IssuerService manages trusted external issuers (Kubernetes, CI OIDC, agent
    runtimes) whose JWTs the broker accepts as attestations. Needs scope broker.admin.
    """

    @staticmethod
    def CreateIssuer(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IssuerService/CreateIssuer', broker_dot_v1_dot_issuer__pb2.CreateIssuerRequest.SerializeToString, broker_dot_v1_dot_issuer__pb2.CreateIssuerResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def GetIssuer(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IssuerService/GetIssuer', broker_dot_v1_dot_issuer__pb2.GetIssuerRequest.SerializeToString, broker_dot_v1_dot_issuer__pb2.GetIssuerResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def ListIssuers(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IssuerService/ListIssuers', broker_dot_v1_dot_issuer__pb2.ListIssuersRequest.SerializeToString, broker_dot_v1_dot_issuer__pb2.ListIssuersResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def DeleteIssuer(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IssuerService/DeleteIssuer', broker_dot_v1_dot_issuer__pb2.DeleteIssuerRequest.SerializeToString, broker_dot_v1_dot_issuer__pb2.DeleteIssuerResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)