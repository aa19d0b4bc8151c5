"""Client and server classes corresponding to protobuf-defined services."""
import grpc
import warnings
from ...broker.v1 import identity_pb2 as broker_dot_v1_dot_identity__pb2
GRPC_GENERATED_VERSION = '1.71.2'
GRPC_VERSION = grpc.__version__
_version_not_supported = False
try:
    from grpc._utilities import first_version_is_lower
    _version_not_supported = first_version_is_lower(GRPC_VERSION, GRPC_GENERATED_VERSION)
except ImportError:
    _version_not_supported = True
if _version_not_supported:
    raise RuntimeError(f'The grpc package installed is at version {GRPC_VERSION},' + f' but the generated code in broker/v1/identity_pb2_grpc.py depends on' + f' grpcio>={GRPC_GENERATED_VERSION}.' + f' Please upgrade your grpc module to grpcio>={GRPC_GENERATED_VERSION}' + f' or downgrade your generated code using grpcio-tools<={GRPC_VERSION}.')

class IdentityServiceStub(object):
    """IdentityService manages service accounts and AI agents. Needs scope broker.admin.
    """

    def __init__(self, channel):
        """Constructor.

        Args:
            channel: A grpc.Channel.
        """
        self.CreateIdentity = channel.unary_unary('/broker.v1.IdentityService/CreateIdentity', request_serializer=broker_dot_v1_dot_identity__pb2.CreateIdentityRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_identity__pb2.CreateIdentityResponse.FromString, _registered_method=True)
        self.GetIdentity = channel.unary_unary('/broker.v1.IdentityService/GetIdentity', request_serializer=broker_dot_v1_dot_identity__pb2.GetIdentityRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_identity__pb2.GetIdentityResponse.FromString, _registered_method=True)
        self.ListIdentities = channel.unary_unary('/broker.v1.IdentityService/ListIdentities', request_serializer=broker_dot_v1_dot_identity__pb2.ListIdentitiesRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_identity__pb2.ListIdentitiesResponse.FromString, _registered_method=True)
        self.UpdateIdentity = channel.unary_unary('/broker.v1.IdentityService/UpdateIdentity', request_serializer=broker_dot_v1_dot_identity__pb2.UpdateIdentityRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_identity__pb2.UpdateIdentityResponse.FromString, _registered_method=True)
        self.DeleteIdentity = channel.unary_unary('/broker.v1.IdentityService/DeleteIdentity', request_serializer=broker_dot_v1_dot_identity__pb2.DeleteIdentityRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_identity__pb2.DeleteIdentityResponse.FromString, _registered_method=True)
        self.AddIdentityKey = channel.unary_unary('/broker.v1.IdentityService/AddIdentityKey', request_serializer=broker_dot_v1_dot_identity__pb2.AddIdentityKeyRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_identity__pb2.AddIdentityKeyResponse.FromString, _registered_method=True)
        self.RemoveIdentityKey = channel.unary_unary('/broker.v1.IdentityService/RemoveIdentityKey', request_serializer=broker_dot_v1_dot_identity__pb2.RemoveIdentityKeyRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_identity__pb2.RemoveIdentityKeyResponse.FromString, _registered_method=True)

class IdentityServiceServicer(object):
    """IdentityService manages service accounts and AI agents. Needs scope broker.admin.
    """

    def CreateIdentity(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def GetIdentity(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def ListIdentities(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def UpdateIdentity(self, request, context):
        """UpdateIdentity changes the fields named in update_mask; identity.etag
        must match the stored one when set.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def DeleteIdentity(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def AddIdentityKey(self, request, context):
        """AddIdentityKey registers a public key that may sign assertions for the identity.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def RemoveIdentityKey(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

def add_IdentityServiceServicer_to_server(servicer, server):
    rpc_method_handlers = {'CreateIdentity': grpc.unary_unary_rpc_method_handler(servicer.CreateIdentity, request_deserializer=broker_dot_v1_dot_identity__pb2.CreateIdentityRequest.FromString, response_serializer=broker_dot_v1_dot_identity__pb2.CreateIdentityResponse.SerializeToString), 'GetIdentity': grpc.unary_unary_rpc_method_handler(servicer.GetIdentity, request_deserializer=broker_dot_v1_dot_identity__pb2.GetIdentityRequest.FromString, response_serializer=broker_dot_v1_dot_identity__pb2.GetIdentityResponse.SerializeToString), 'ListIdentities': grpc.unary_unary_rpc_method_handler(servicer.ListIdentities, request_deserializer=broker_dot_v1_dot_identity__pb2.ListIdentitiesRequest.FromString, response_serializer=broker_dot_v1_dot_identity__pb2.ListIdentitiesResponse.SerializeToString), 'UpdateIdentity': grpc.unary_unary_rpc_method_handler(servicer.UpdateIdentity, request_deserializer=broker_dot_v1_dot_identity__pb2.UpdateIdentityRequest.FromString, response_serializer=broker_dot_v1_dot_identity__pb2.UpdateIdentityResponse.SerializeToString), 'DeleteIdentity': grpc.unary_unary_rpc_method_handler(servicer.DeleteIdentity, request_deserializer=broker_dot_v1_dot_identity__pb2.DeleteIdentityRequest.FromString, response_serializer=broker_dot_v1_dot_identity__pb2.DeleteIdentityResponse.SerializeToString), 'AddIdentityKey': grpc.unary_unary_rpc_method_handler(servicer.AddIdentityKey, request_deserializer=broker_dot_v1_dot_identity__pb2.AddIdentityKeyRequest.FromString, response_serializer=broker_dot_v1_dot_identity__pb2.AddIdentityKeyResponse.SerializeToString), 'RemoveIdentityKey': grpc.unary_unary_rpc_method_handler(servicer.RemoveIdentityKey, request_deserializer=broker_dot_v1_dot_identity__pb2.RemoveIdentityKeyRequest.FromString, response_serializer=broker_dot_v1_dot_identity__pb2.RemoveIdentityKeyResponse.SerializeToString)}
    generic_handler = grpc.method_handlers_generic_handler('broker.v1.IdentityService', rpc_method_handlers)
    server.add_generic_rpc_handlers((generic_handler,))
    server.add_registered_method_handlers('broker.v1.IdentityService', rpc_method_handlers)

class IdentityService(object):
    """IdentityService manages service accounts and AI agents. Needs scope broker.admin.
    """

    @staticmethod
    def CreateIdentity(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IdentityService/CreateIdentity', broker_dot_v1_dot_identity__pb2.CreateIdentityRequest.SerializeToString, broker_dot_v1_dot_identity__pb2.CreateIdentityResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def GetIdentity(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IdentityService/GetIdentity', broker_dot_v1_dot_identity__pb2.GetIdentityRequest.SerializeToString, broker_dot_v1_dot_identity__pb2.GetIdentityResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def ListIdentities(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IdentityService/ListIdentities', broker_dot_v1_dot_identity__pb2.ListIdentitiesRequest.SerializeToString, broker_dot_v1_dot_identity__pb2.ListIdentitiesResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def UpdateIdentity(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IdentityService/UpdateIdentity', broker_dot_v1_dot_identity__pb2.UpdateIdentityRequest.SerializeToString, broker_dot_v1_dot_identity__pb2.UpdateIdentityResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def DeleteIdentity(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IdentityService/DeleteIdentity', broker_dot_v1_dot_identity__pb2.DeleteIdentityRequest.SerializeToString, broker_dot_v1_dot_identity__pb2.DeleteIdentityResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def AddIdentityKey(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IdentityService/AddIdentityKey', broker_dot_v1_dot_identity__pb2.AddIdentityKeyRequest.SerializeToString, broker_dot_v1_dot_identity__pb2.AddIdentityKeyResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def RemoveIdentityKey(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.IdentityService/RemoveIdentityKey', broker_dot_v1_dot_identity__pb2.RemoveIdentityKeyRequest.SerializeToString, broker_dot_v1_dot_identity__pb2.RemoveIdentityKeyResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)