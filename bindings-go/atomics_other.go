//go:build !amd64 && !arm64

package shmlane

import "sync/atomic"

// storeRelease64 falls back to sync/atomic's sequentially consistent store,
// which is at least a release store.
func storeRelease64(addr *uint64, val uint64) { atomic.StoreUint64(addr, val) }

var fenceWord uint32

// fullFence: a sequentially consistent read-modify-write serves as the fence.
func fullFence() { atomic.AddUint32(&fenceWord, 0) }

func cpuRelax() {}
