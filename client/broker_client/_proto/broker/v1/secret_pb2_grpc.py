"""Client and server classes corresponding to protobuf-defined services."""
import grpc
import warnings
from ...broker.v1 import secret_pb2 as broker_dot_v1_dot_secret__pb2
GRPC_GENERATED_VERSION = '1.71.2'
GRPC_VERSION = grpc.__version__
_version_not_supported = False
try:
    from grpc._utilities import first_version_is_lower
    _version_not_supported = first_version_is_lower(GRPC_VERSION, GRPC_GENERATED_VERSION)
except ImportError:
    _version_not_supported = True
if _version_not_supported:
    raise RuntimeError(f'The grpc package installed is at version {GRPC_VERSION},' + f' but the generated code in broker/v1/secret_pb2_grpc.py depends on' + f' grpcio>={GRPC_GENERATED_VERSION}.' + f' Please upgrade your grpc module to grpcio>={GRPC_GENERATED_VERSION}' + f' or downgrade your generated code using grpcio-tools<={GRPC_VERSION}.')

class SecretServiceStub(object):
    """SecretService keeps long-lived secrets rotating with grace periods.
    Reading a value needs broker.secrets.read:<id> (or :*); rotating needs
    broker.secrets.rotate:<id> (or :*) or broker.admin; managing needs broker.admin.
    Verifying a value needs broker.secrets.verify:<id> (or :*) or the read scope;
    watching needs the read, verify or rotate scope of the secret, or broker.admin.
    """

    def __init__(self, channel):
        """Constructor.

        Args:
            channel: A grpc.Channel.
        """
        self.CreateSecret = channel.unary_unary('/broker.v1.SecretService/CreateSecret', request_serializer=broker_dot_v1_dot_secret__pb2.CreateSecretRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.CreateSecretResponse.FromString, _registered_method=True)
        self.GetSecret = channel.unary_unary('/broker.v1.SecretService/GetSecret', request_serializer=broker_dot_v1_dot_secret__pb2.GetSecretRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.GetSecretResponse.FromString, _registered_method=True)
        self.ListSecrets = channel.unary_unary('/broker.v1.SecretService/ListSecrets', request_serializer=broker_dot_v1_dot_secret__pb2.ListSecretsRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.ListSecretsResponse.FromString, _registered_method=True)
        self.AccessSecretVersion = channel.unary_unary('/broker.v1.SecretService/AccessSecretVersion', request_serializer=broker_dot_v1_dot_secret__pb2.AccessSecretVersionRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.AccessSecretVersionResponse.FromString, _registered_method=True)
        self.ListSecretVersions = channel.unary_unary('/broker.v1.SecretService/ListSecretVersions', request_serializer=broker_dot_v1_dot_secret__pb2.ListSecretVersionsRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.ListSecretVersionsResponse.FromString, _registered_method=True)
        self.RotateSecret = channel.unary_unary('/broker.v1.SecretService/RotateSecret', request_serializer=broker_dot_v1_dot_secret__pb2.RotateSecretRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.RotateSecretResponse.FromString, _registered_method=True)
        self.UpdateSecret = channel.unary_unary('/broker.v1.SecretService/UpdateSecret', request_serializer=broker_dot_v1_dot_secret__pb2.UpdateSecretRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.UpdateSecretResponse.FromString, _registered_method=True)
        self.DeleteSecret = channel.unary_unary('/broker.v1.SecretService/DeleteSecret', request_serializer=broker_dot_v1_dot_secret__pb2.DeleteSecretRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.DeleteSecretResponse.FromString, _registered_method=True)
        self.VerifySecretValue = channel.unary_unary('/broker.v1.SecretService/VerifySecretValue', request_serializer=broker_dot_v1_dot_secret__pb2.VerifySecretValueRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.VerifySecretValueResponse.FromString, _registered_method=True)
        self.WatchSecret = channel.unary_stream('/broker.v1.SecretService/WatchSecret', request_serializer=broker_dot_v1_dot_secret__pb2.WatchSecretRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_secret__pb2.WatchSecretResponse.FromString, _registered_method=True)

class SecretServiceServicer(object):
    """SecretService keeps long-lived secrets rotating with grace periods.
    Reading a value needs broker.secrets.read:<id> (or :*); rotating needs
    broker.secrets.rotate:<id> (or :*) or broker.admin; managing needs broker.admin.
    Verifying a value needs broker.secrets.verify:<id> (or :*) or the read scope;
    watching needs the read, verify or rotate scope of the secret, or broker.admin.
    """

    def CreateSecret(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def GetSecret(self, request, context):
        """GetSecret returns metadata only, never a value.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def ListSecrets(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def AccessSecretVersion(self, request, context):
        """AccessSecretVersion returns a value; version 0 means the current one.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def ListSecretVersions(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def RotateSecret(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def UpdateSecret(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def DeleteSecret(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def VerifySecretValue(self, request, context):
        """VerifySecretValue accepts the current value and every previous value
        still inside its grace period, compared in constant time. A value shaped
        like a broker API key with a wrong checksum is refused without a lookup.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def WatchSecret(self, request, context):
        """WatchSecret streams rotation events (version numbers, never values).
        The initial metadata carries broker-watch-after-seq: the seq the stream
        starts after; events from then on are delivered in order. The stream
        ends after DELETED and when the server shuts down.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

def add_SecretServiceServicer_to_server(servicer, server):
    rpc_method_handlers = {'CreateSecret': grpc.unary_unary_rpc_method_handler(servicer.CreateSecret, request_deserializer=broker_dot_v1_dot_secret__pb2.CreateSecretRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.CreateSecretResponse.SerializeToString), 'GetSecret': grpc.unary_unary_rpc_method_handler(servicer.GetSecret, request_deserializer=broker_dot_v1_dot_secret__pb2.GetSecretRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.GetSecretResponse.SerializeToString), 'ListSecrets': grpc.unary_unary_rpc_method_handler(servicer.ListSecrets, request_deserializer=broker_dot_v1_dot_secret__pb2.ListSecretsRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.ListSecretsResponse.SerializeToString), 'AccessSecretVersion': grpc.unary_unary_rpc_method_handler(servicer.AccessSecretVersion, request_deserializer=broker_dot_v1_dot_secret__pb2.AccessSecretVersionRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.AccessSecretVersionResponse.SerializeToString), 'ListSecretVersions': grpc.unary_unary_rpc_method_handler(servicer.ListSecretVersions, request_deserializer=broker_dot_v1_dot_secret__pb2.ListSecretVersionsRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.ListSecretVersionsResponse.SerializeToString), 'RotateSecret': grpc.unary_unary_rpc_method_handler(servicer.RotateSecret, request_deserializer=broker_dot_v1_dot_secret__pb2.RotateSecretRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.RotateSecretResponse.SerializeToString), 'UpdateSecret': grpc.unary_unary_rpc_method_handler(servicer.UpdateSecret, request_deserializer=broker_dot_v1_dot_secret__pb2.UpdateSecretRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.UpdateSecretResponse.SerializeToString), 'DeleteSecret': grpc.unary_unary_rpc_method_handler(servicer.DeleteSecret, request_deserializer=broker_dot_v1_dot_secret__pb2.DeleteSecretRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.DeleteSecretResponse.SerializeToString), 'VerifySecretValue': grpc.unary_unary_rpc_method_handler(servicer.VerifySecretValue, request_deserializer=broker_dot_v1_dot_secret__pb2.VerifySecretValueRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.VerifySecretValueResponse.SerializeToString), 'WatchSecret': grpc.unary_stream_rpc_method_handler(servicer.WatchSecret, request_deserializer=broker_dot_v1_dot_secret__pb2.WatchSecretRequest.FromString, response_serializer=broker_dot_v1_dot_secret__pb2.WatchSecretResponse.SerializeToString)}
    generic_handler = grpc.method_handlers_generic_handler('broker.v1.SecretService', rpc_method_handlers)
    server.add_generic_rpc_handlers((generic_handler,))
    server.add_registered_method_handlers('broker.v1.SecretService', rpc_method_handlers)

class SecretService(object):
    """SecretService keeps long-lived secrets rotating with grace periods.
    Reading a value needs broker.secrets.read:<id> (or :*); rotating needs
    broker.secrets.rotate:<id> (or :*) or broker.admin; managing needs broker.admin.
    Verifying a value needs broker.secrets.verify:<id> (or :*) or the read scope;
    watching needs the read, verify or rotate scope of the secret, or broker.admin.
    """

    @staticmethod
    def CreateSecret(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.SecretService/CreateSecret', broker_dot_v1_dot_secret__pb2.CreateSecretRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.CreateSecretResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def GetSecret(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.SecretService/GetSecret', broker_dot_v1_dot_secret__pb2.GetSecretRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.GetSecretResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def ListSecrets(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.SecretService/ListSecrets', broker_dot_v1_dot_secret__pb2.ListSecretsRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.ListSecretsResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def AccessSecretVersion(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.SecretService/AccessSecretVersion', broker_dot_v1_dot_secret__pb2.AccessSecretVersionRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.AccessSecretVersionResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def ListSecretVersions(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.SecretService/ListSecretVersions', broker_dot_v1_dot_secret__pb2.ListSecretVersionsRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.ListSecretVersionsResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def RotateSecret(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.SecretService/RotateSecret', broker_dot_v1_dot_secret__pb2.RotateSecretRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.RotateSecretResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def UpdateSecret(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.SecretService/UpdateSecret', broker_dot_v1_dot_secret__pb2.UpdateSecretRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.UpdateSecretResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def DeleteSecret(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.SecretService/DeleteSecret', broker_dot_v1_dot_secret__pb2.DeleteSecretRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.DeleteSecretResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def VerifySecretValue(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.SecretService/VerifySecretValue', broker_dot_v1_dot_secret__pb2.VerifySecretValueRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.VerifySecretValueResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def WatchSecret(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_stream(request, target, '/broker.v1.SecretService/WatchSecret', broker_dot_v1_dot_secret__pb2.WatchSecretRequest.SerializeToString, broker_dot_v1_dot_secret__pb2.WatchSecretResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)