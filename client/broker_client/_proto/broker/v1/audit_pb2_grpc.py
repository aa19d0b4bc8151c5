"""Client and server classes corresponding to protobuf-defined services."""
import grpc
import warnings
from ...broker.v1 import audit_pb2 as broker_dot_v1_dot_audit__pb2
GRPC_GENERATED_VERSION = '1.71.2'
GRPC_VERSION = grpc.__version__
_version_not_supported = False
try:
    from grpc._utilities import first_version_is_lower
    _version_not_supported = first_version_is_lower(GRPC_VERSION, GRPC_GENERATED_VERSION)
except ImportError:
    _version_not_supported = True
if _version_not_supported:
    raise RuntimeError(f'The grpc package installed is at version {GRPC_VERSION},' + f' but the generated code in broker/v1/audit_pb2_grpc.py depends on' + f' grpcio>={GRPC_GENERATED_VERSION}.' + f' Please upgrade your grpc module to grpcio>={GRPC_GENERATED_VERSION}' + f' or downgrade your generated code using grpcio-tools<={GRPC_VERSION}.')

class AuditServiceStub(object):
    """AuditService reads the audit log. Needs scope broker.admin.
    """

    def __init__(self, channel):
        """Constructor.

        Args:
            channel: A grpc.Channel.
        """
        self.ListAuditEvents = channel.unary_unary('/broker.v1.AuditService/ListAuditEvents', request_serializer=broker_dot_v1_dot_audit__pb2.ListAuditEventsRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_audit__pb2.ListAuditEventsResponse.FromString, _registered_method=True)
        self.VerifyAuditChain = channel.unary_unary('/broker.v1.AuditService/VerifyAuditChain', request_serializer=broker_dot_v1_dot_audit__pb2.VerifyAuditChainRequest.SerializeToString, response_deserializer=broker_dot_v1_dot_audit__pb2.VerifyAuditChainResponse.FromString, _registered_method=True)

class AuditServiceServicer(object):
    """AuditService reads the audit log. Needs scope broker.admin.
    """

    def ListAuditEvents(self, request, context):
        """Missing associated documentation comment in .proto file."""
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

    def VerifyAuditChain(self, request, context):
        """VerifyAuditChain walks the whole hash chain in the store and reports every break:
        an edited, removed, inserted or moved event, a checkpoint that does not verify.
        """
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details('Method not implemented!')
        raise NotImplementedError('Method not implemented!')

def add_AuditServiceServicer_to_server(servicer, server):
    rpc_method_handlers = {'ListAuditEvents': grpc.unary_unary_rpc_method_handler(servicer.ListAuditEvents, request_deserializer=broker_dot_v1_dot_audit__pb2.ListAuditEventsRequest.FromString, response_serializer=broker_dot_v1_dot_audit__pb2.ListAuditEventsResponse.SerializeToString), 'VerifyAuditChain': grpc.unary_unary_rpc_method_handler(servicer.VerifyAuditChain, request_deserializer=broker_dot_v1_dot_audit__pb2.VerifyAuditChainRequest.FromString, response_serializer=broker_dot_v1_dot_audit__pb2.VerifyAuditChainResponse.SerializeToString)}
    generic_handler = grpc.method_handlers_generic_handler('broker.v1.AuditService', rpc_method_handlers)
    server.add_generic_rpc_handlers((generic_handler,))
    server.add_registered_method_handlers('broker.v1.AuditService', rpc_method_handlers)

class AuditService(object):
    """AuditService reads the audit log. Needs scope broker.admin.
    """

    @staticmethod
    def ListAuditEvents(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.AuditService/ListAuditEvents', broker_dot_v1_dot_audit__pb2.ListAuditEventsRequest.SerializeToString, broker_dot_v1_dot_audit__pb2.ListAuditEventsResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)

    @staticmethod
    def VerifyAuditChain(request, target, options=(), channel_credentials=None, call_credentials=None, insecure=False, compression=None, wait_for_ready=None, timeout=None, metadata=None):
        return grpc.experimental.unary_unary(request, target, '/broker.v1.AuditService/VerifyAuditChain', broker_dot_v1_dot_audit__pb2.VerifyAuditChainRequest.SerializeToString, broker_dot_v1_dot_audit__pb2.VerifyAuditChainResponse.FromString, options, channel_credentials, insecure, call_credentials, compression, wait_for_ready, timeout, metadata, _registered_method=True)