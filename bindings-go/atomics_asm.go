//go:build amd64 || arm64

package shmlane

// storeRelease64 stores val at addr with release ordering and no more: the
// ordering the Rust crate uses to publish a position or a stamp. (sync/atomic's
// Store is sequentially consistent, an XCHG on x86-64, which would cost the hot
// path a full barrier per message.) addr must be 8-byte aligned.
//
//go:noescape
func storeRelease64(addr *uint64, val uint64)

// fullFence is a sequentially consistent fence, Rust's fence(SeqCst).
func fullFence()

// cpuRelax is a spin-wait hint, Rust's std::hint::spin_loop.
func cpuRelax()
