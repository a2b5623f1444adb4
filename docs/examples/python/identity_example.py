#!/usr/bin/env python3
"""Example client for the identity.v1 gRPC API.

It looks a user up by user name, checks one role membership, introspects an access
token and, optionally, watches the change feed until that user is deactivated, then
introspects the token again (deactivation revokes the user's tokens).

Every result is printed as one JSON line on stdout; errors go to stderr.

Run it from anywhere (it finds the .proto files at ../../../proto relative to itself):

    python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
    export IDENTITY_CREDENTIAL=...        # service credential; never passed on argv
    .venv/bin/python identity_example.py --target 127.0.0.1:50051 \\
        --organization-id ORG_ID --user-name alice@example.com \\
        --role-name "Billing Admins" --token idat_... \\
        [--watch-user-id USER_ID] [--watch-timeout-secs 30] \\
        [--ca-file ca.pem [--client-cert svc.pem --client-key svc.key]]

With --ca-file the connection is TLS, trusting that CA; with a client certificate too it is
mutual TLS, and IDENTITY_CREDENTIAL may be left unset: the core knows the caller by the
certificate's name (that of a live service credential).

Exit status: 0 on success, 1 on a gRPC error or bad setup, 2 when the watch times out.
"""

import argparse
import collections
import glob
import importlib.resources
import json
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc

PROTO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "proto"))
RPC_TIMEOUT_SECS = 10


def generate_stubs(out_dir):
    """Compiles proto/identity/v1/*.proto into out_dir and makes them importable."""
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")  # google/protobuf/*
    sources = sorted(glob.glob(os.path.join(PROTO_ROOT, "identity", "v1", "*.proto")))
    if not sources:
        sys.exit(f"no .proto files under {PROTO_ROOT}/identity/v1")
    status = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}",
                          f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *sources])
    if status != 0:
        sys.exit(f"protoc failed with status {status}")
    # protoc writes identity/v1/user_service_pb2.py, imported as `identity.v1.user_service_pb2`.
    # Empty __init__.py files make these regular packages, so an unrelated installed package
    # named `identity` cannot shadow them.
    for package in ("identity", os.path.join("identity", "v1")):
        open(os.path.join(out_dir, package, "__init__.py"), "a").close()
    sys.path.insert(0, out_dir)


class _CallDetails(collections.namedtuple(
        "_CallDetails", "method timeout metadata credentials wait_for_ready compression"),
        grpc.ClientCallDetails):
    pass


class BearerAuth(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <credential>` to every call made on the channel."""

    def __init__(self, credential):
        self._header = ("authorization", f"Bearer {credential}")

    def intercept_unary_unary(self, continuation, details, request):
        metadata = list(details.metadata or []) + [self._header]
        return continuation(_CallDetails(details.method, details.timeout, metadata,
                                         details.credentials, details.wait_for_ready,
                                         details.compression), request)

    intercept_unary_stream = intercept_unary_unary


def error_info(err):
    """The google.rpc.ErrorInfo of a failed call, or None.

    Needs the optional `googleapis-common-protos` package for google.rpc.Status.
    """
    try:
        from google.rpc import error_details_pb2, status_pb2
    except ImportError:
        return None
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info
    return None


def emit(**fields):
    print(json.dumps(fields, separators=(",", ":")), flush=True)


def run(args, channel):
    # Importable only once generate_stubs() has run.
    from identity.v1 import access_token_service_pb2 as tokens
    from identity.v1 import access_token_service_pb2_grpc as tokens_grpc
    from identity.v1 import change_service_pb2 as changes
    from identity.v1 import change_service_pb2_grpc as changes_grpc
    from identity.v1 import role_service_pb2 as roles
    from identity.v1 import role_service_pb2_grpc as roles_grpc
    from identity.v1 import user_service_pb2 as users
    from identity.v1 import user_service_pb2_grpc as users_grpc

    org = args.organization_id
    user = users_grpc.UserServiceStub(channel).LookupUser(
        users.LookupUserRequest(organization_id=org, user_name=args.user_name),
        timeout=RPC_TIMEOUT_SECS).user
    emit(step="lookup", user_id=user.id, user_name=user.user_name, active=user.active)

    # Up to 100 checks fit in one call; roles may be named by id or by display name.
    check = roles.RoleMembershipCheck(user_id=user.id, role_display_name=args.role_name)
    answer = roles_grpc.RoleServiceStub(channel).BatchCheckRoleMembership(
        roles.BatchCheckRoleMembershipRequest(organization_id=org, checks=[check]),
        timeout=RPC_TIMEOUT_SECS)
    emit(step="check_role", role=args.role_name, is_member=answer.is_member[0])

    token_service = tokens_grpc.AccessTokenServiceStub(channel)
    introspect = tokens.IntrospectTokenRequest(token=args.token, organization_id=org)
    token = token_service.IntrospectToken(introspect, timeout=RPC_TIMEOUT_SECS)
    emit(step="introspect", active=token.active, user_id=token.user_id,
         roles=[role.display_name for role in token.roles], scopes=list(token.scopes))

    if not args.watch_user_id:
        return 0

    # Watch only what happens from now on: start at the feed's latest sequence.
    feed = changes_grpc.ChangeServiceStub(channel)
    try:
        cursor = feed.ListChanges(changes.ListChangesRequest(
            organization_id=org, after_sequence=0, page_size=1),
            timeout=RPC_TIMEOUT_SECS).latest_sequence
    except grpc.RpcError as err:
        # Once retention has pruned the start of the feed, cursor 0 is CURSOR_EXPIRED; the
        # error's ErrorInfo still carries the latest sequence.
        info = error_info(err)
        if not info or info.reason != "CURSOR_EXPIRED":
            raise
        cursor = int(info.metadata["latest_sequence"])
    emit(step="watching", after_sequence=cursor)

    # The stream never ends on its own, so its deadline is the watch timeout.
    stream = feed.WatchChanges(changes.WatchChangesRequest(organization_id=org,
                                                           after_sequence=cursor),
                               timeout=args.watch_timeout_secs)
    try:
        for batch in stream:
            for change in batch.changes:
                kind = changes.ChangeKind.Name(change.kind)
                emit(step="change", sequence=change.sequence, kind=kind,
                     resource_id=change.resource_id)
                if (change.resource_id == args.watch_user_id
                        and change.kind == changes.CHANGE_KIND_DEACTIVATED):
                    stream.cancel()
                    token = token_service.IntrospectToken(introspect, timeout=RPC_TIMEOUT_SECS)
                    emit(step="introspect_after", active=token.active,
                         inactive_reason=tokens.InactiveReason.Name(token.inactive_reason))
                    return 0
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
    print(f"timed out after {args.watch_timeout_secs:g}s waiting for user "
          f"{args.watch_user_id} to be deactivated", file=sys.stderr)
    return 2


def read(path):
    with open(path, "rb") as file:
        return file.read()


def open_channel(args):
    """Plaintext for a local or sidecar-terminated connection; TLS with --ca-file."""
    if not args.ca_file:
        return grpc.insecure_channel(args.target)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca_file),
        private_key=read(args.client_key) if args.client_key else None,
        certificate_chain=read(args.client_cert) if args.client_cert else None)
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    return grpc.secure_channel(args.target, credentials, options=options)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="identity API address, host:port")
    parser.add_argument("--organization-id", required=True)
    parser.add_argument("--user-name", required=True, help="user name to look up")
    parser.add_argument("--role-name", required=True, help="role display name to check")
    parser.add_argument("--token", required=True, help="access token to introspect")
    parser.add_argument("--watch-user-id", help="watch the change feed until this user is "
                        "deactivated")
    parser.add_argument("--watch-timeout-secs", type=float, default=30)
    parser.add_argument("--ca-file", help="PEM CA certificates: connect over TLS trusting them")
    parser.add_argument("--client-cert", help="PEM client certificate for mutual TLS")
    parser.add_argument("--client-key", help="its PEM private key")
    parser.add_argument("--server-name", help="the name the core's certificate carries, when "
                        "the target address is not that name")
    args = parser.parse_args()

    if bool(args.client_cert) != bool(args.client_key):
        sys.exit("--client-cert and --client-key go together")
    if args.client_cert and not args.ca_file:
        sys.exit("--client-cert needs --ca-file (mutual TLS)")
    credential = os.environ.get("IDENTITY_CREDENTIAL")
    if not credential and not args.client_cert:
        sys.exit("set IDENTITY_CREDENTIAL to the service credential (or use a client certificate)")

    with tempfile.TemporaryDirectory(prefix="identity-stubs-") as stubs:
        generate_stubs(stubs)
        channel = grpc.intercept_channel(open_channel(args), *(
            [BearerAuth(credential)] if credential else []))
        with channel:
            try:
                return run(args, channel)
            except grpc.RpcError as err:
                info = error_info(err)
                reason = f" reason={info.reason}" if info else ""
                print(f"gRPC error: {err.code().name}: {err.details()}{reason}",
                      file=sys.stderr)
                return 1


if __name__ == "__main__":
    sys.exit(main())
