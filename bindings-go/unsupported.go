//go:build !(linux && (amd64 || arm64 || riscv64 || loong64 || ppc64le))

package shmlane

// The layout is little-endian and the package uses Linux's futex and
// open-file-description locks: other targets stop here, with this name in
// the error.
const _ = shmlane_requires_linux_on_a_little_endian_64_bit_target
