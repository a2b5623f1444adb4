//! Compiles the `.proto` files with protox (a pure-Rust protobuf compiler), so building needs no
//! system `protoc`, and emits a file descriptor set for gRPC server reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "identity/v1/error_reason.proto",
    "identity/v1/user.proto",
    "identity/v1/role.proto",
    "identity/v1/filter.proto",
    "identity/v1/user_service.proto",
    "identity/v1/role_service.proto",
    "identity/v1/token_service.proto",
    "identity/v1/change_service.proto",
    "identity/v1/access_token_service.proto",
    "identity/v1/provisioning_service.proto",
    "identity/v1/portal_service.proto",
    "admin/v1/organization.proto",
    "admin/v1/organization_service.proto",
    "admin/v1/scim_service.proto",
    "admin/v1/service_credential_service.proto",
    "admin/v1/connection_service.proto",
    "admin/v1/role_service.proto",
    "admin/v1/portal_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
