package outbox

// FNV-1a, as hash/fnv computes it, over strings and bytes without the
// hash.Hash interface: through it every string written is converted to a
// slice that escapes, an allocation for each of the three to five fields
// hashed per request. Partitions and dedup ids depend on the exact values
// (every node must agree on them, and across a restart), so these match
// hash/fnv bit for bit (TestFNVMatchesHashFNV).

const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

type fnv32 uint32

func (h fnv32) str(s string) fnv32 {
	for i := range len(s) {
		h = (h ^ fnv32(s[i])) * fnvPrime32
	}
	return h
}

func (h fnv32) byte(c byte) fnv32 { return (h ^ fnv32(c)) * fnvPrime32 }

type fnv64 uint64

func (h fnv64) str(s string) fnv64 {
	for i := range len(s) {
		h = (h ^ fnv64(s[i])) * fnvPrime64
	}
	return h
}

func (h fnv64) bytes(b []byte) fnv64 {
	for _, c := range b {
		h = (h ^ fnv64(c)) * fnvPrime64
	}
	return h
}

func (h fnv64) byte(c byte) fnv64 { return (h ^ fnv64(c)) * fnvPrime64 }
