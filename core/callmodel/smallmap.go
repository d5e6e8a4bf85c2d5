package callmodel

// smallMap is a map for the handful of keys one call holds (its events
// per kind, the legs of a dial). A Go map costs a few hundred bytes even
// for one key, and the model keeps several per open call; a slice
// searched in order costs what its entries do. Its zero value is empty.
type smallMap[K comparable, V any] []smallEntry[K, V]

type smallEntry[K comparable, V any] struct {
	k K
	v V
}

func (m smallMap[K, V]) get(k K) V {
	for i := range m {
		if m[i].k == k {
			return m[i].v
		}
	}
	var zero V
	return zero
}

func (m *smallMap[K, V]) set(k K, v V) {
	for i := range *m {
		if (*m)[i].k == k {
			(*m)[i].v = v
			return
		}
	}
	*m = append(*m, smallEntry[K, V]{k, v})
}

func (m *smallMap[K, V]) del(k K) {
	for i := range *m {
		if (*m)[i].k == k {
			*m = append((*m)[:i], (*m)[i+1:]...)
			return
		}
	}
}
