package callmodel

// CallOf returns the id the call of leg legID has now (its current link)
// and true while the model follows that call; false once every leg of the
// call is gone, or for a leg the model never placed. Recording follows
// calls through it: a recording that starts on a leg belongs to the link
// the call is at, and the call's recordings are complete once the call is
// no longer followed. Like Handle, it must not run concurrently with
// Handle.
func (m *Model) CallOf(legID string) (CallID, bool) {
	c := m.byLeg[legID]
	if c == nil {
		return CallID{}, false
	}
	return c.id, true
}
