//! Gives the shared library the soname it is installed under
//! (`bindings-c/Makefile` installs `libshmlane_ffi.so` as `libshmlane.so.0`).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libshmlane.so.0");
}
