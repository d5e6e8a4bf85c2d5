package pbx

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of Originate, answered as AMI errors.
var (
	// ErrOriginateChannel: the Originate's Channel is not one of the
	// PBX's extensions (the simulator places calls from its phones only).
	ErrOriginateChannel = errors.New("originate: channel is not an extension of this PBX")
	// ErrOriginateTarget: neither Exten nor Application says what to dial.
	ErrOriginateTarget = errors.New("originate: no Exten to dial")
)

// Originate places a call as Asterisk's manager Originate action does for
// Channel PJSIP/<extension> with Context/Exten: the extension's device
// takes part first, then the dialplan dials Exten from it. The simulator
// has no way to ring a phone and have it dial on, so the extension's own
// phone places the call to Exten (dial does that): on the PBX it is the
// extension's call to that number, routed by the same dialplan (9 + number
// out through the trunk, or another extension). get reads the action's
// fields. The answer is Asterisk's to an asynchronous Originate.
//
// A requested ChannelId cannot be honoured (the phone's INVITE creates the
// channel, numbered as every other); clients find the call by its
// extension instead.
func (p *PBX) Originate(get func(string) string, dial func(extension, number string) error) (string, error) {
	tech, dev, ok := strings.Cut(get("Channel"), "/")
	if !ok || !strings.EqualFold(tech, "PJSIP") || strings.Contains(dev, "@") {
		return "", fmt.Errorf("%w: %q", ErrOriginateChannel, get("Channel"))
	}
	if _, ok := p.exts[dev]; !ok {
		return "", fmt.Errorf("%w: %q", ErrOriginateChannel, get("Channel"))
	}
	exten := get("Exten")
	if exten == "" {
		return "", ErrOriginateTarget
	}
	if err := dial(dev, exten); err != nil {
		return "", fmt.Errorf("originate %s to %s: %w", dev, exten, err)
	}
	return "Originate successfully queued", nil
}
