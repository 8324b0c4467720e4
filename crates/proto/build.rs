//! Compiles `proto/` with protox (pure Rust: no system `protoc`) and
//! generates prost messages and tonic clients/servers.

/// Root of the .proto tree, relative to this crate.
const PROTO_ROOT: &str = "../../proto";

/// Every .proto file to compile, relative to [`PROTO_ROOT`] (imports come
/// along). Adding a package (gateway) is one more line here and one more
/// module in `src/lib.rs`.
const PROTOS: &[&str] = &[
    "ringside/events/v1/envelope.proto",
    "ringside/state/v1/state.proto",
    "ringside/provisioning/v1/provisioning.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // protox does not emit this itself (prost-build with protoc does).
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let files: Vec<String> = PROTOS.iter().map(|p| format!("{PROTO_ROOT}/{p}")).collect();
    let fds = protox::compile(&files, [PROTO_ROOT])?;
    // The descriptors of every package above (with their imports, the
    // well-known types included), for gRPC server reflection and for turning
    // messages into proto3 JSON at run time.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("ringside_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Generated code is not ours to lint.
        .type_attribute(".", "#[allow(clippy::all)]")
        .compile_fds(fds)?;
    Ok(())
}
