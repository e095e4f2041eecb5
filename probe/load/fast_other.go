//go:build !(linux && (amd64 || arm64))

package load

// haveFastPath says whether this platform has the batched data path.
const haveFastPath = false

// newFastPath reports that this platform has no batched data path: every
// session reads its socket on its own goroutine.
func newFastPath(*engine) (fastPath, error) { return nil, nil }
