#include "textflag.h"

// func storeRelease64(addr *uint64, val uint64)
// A plain MOV: on x86-64 (TSO) every store is a release store. sync/atomic's
// Store is an XCHG, a full barrier this hot path must not pay (docs/design.md,
// "Why wakers are armed").
TEXT ·storeRelease64(SB), NOSPLIT, $0-16
	MOVQ	addr+0(FP), AX
	MOVQ	val+8(FP), BX
	MOVQ	BX, (AX)
	RET

// func fullFence()
// The equivalent of Rust's fence(Ordering::SeqCst) on x86-64.
TEXT ·fullFence(SB), NOSPLIT, $0-0
	MFENCE
	RET

// func cpuRelax()
// The equivalent of Rust's std::hint::spin_loop.
TEXT ·cpuRelax(SB), NOSPLIT, $0-0
	PAUSE
	RET
