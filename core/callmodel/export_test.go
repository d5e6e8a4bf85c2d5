package callmodel

// CheckCalls reports whether the count Calls keeps is the number of
// distinct calls the model holds.
func (m *Model) CheckCalls() (kept, walked int) { return m.Calls(), m.distinctCalls() }
