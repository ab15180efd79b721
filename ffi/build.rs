//! Gives the shared library the soname it is installed under
//! (`bindings-c/Makefile` installs `libshmlane_ffi.so` as `libshmlane.so.X.Y.Z`
//! with that soname as a link): `libshmlane.so.0.MINOR` while the major version
//! is 0, since 0.x releases may break the ABI, `libshmlane.so.MAJOR` from 1.0 on.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
    let soname = if major == "0" {
        format!("libshmlane.so.0.{minor}")
    } else {
        format!("libshmlane.so.{major}")
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
}
