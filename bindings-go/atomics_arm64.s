#include "textflag.h"

// func storeRelease64(addr *uint64, val uint64)
// STLR: a store-release, what Rust's store(Ordering::Release) compiles to.
TEXT ·storeRelease64(SB), NOSPLIT, $0-16
	MOVD	addr+0(FP), R0
	MOVD	val+8(FP), R1
	STLR	R1, (R0)
	RET

// func fullFence()
// DMB ISH: the equivalent of Rust's fence(Ordering::SeqCst) on aarch64.
TEXT ·fullFence(SB), NOSPLIT, $0-0
	DMB	$0xb
	RET

// func cpuRelax()
TEXT ·cpuRelax(SB), NOSPLIT, $0-0
	YIELD
	RET
