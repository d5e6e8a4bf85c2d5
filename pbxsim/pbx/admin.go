package pbx

import (
	"errors"
	"fmt"
	"sync"
)

// Administrative changes. Asterisk has no manager event for call
// forwarding, queue log-in or extension changes, so the PBX's
// configuration (its dialplan or provisioning hooks) raises UserEvents the
// engine understands:
//
//	UserEvent(CallhookForwarding,Extension: 102,Status: on,Destination: 12125550199)
//	UserEvent(CallhookQueueLogin,Extension: 101,Status: out)            ; all queues
//	UserEvent(CallhookQueueLogin,Extension: 101,Status: in,Queue: 800)  ; one queue
//	UserEvent(CallhookExtension,Extension: 105,Status: created,Name: Erin 105)
//
// pbxsim raises the same events for the same changes. Pausing and
// unpausing a member in one queue is app_queue's own QueueMemberPause.

// Errors of the administrative API.
var (
	// ErrExtensionExists is returned for creating an extension twice.
	ErrExtensionExists = errors.New("pbx: extension exists")
	// ErrNoExtension is returned for a change to an unknown extension.
	ErrNoExtension = errors.New("pbx: no such extension")
)

// adminState holds what administrators changed while the PBX runs: the
// configured extensions stay in PBX.exts; created ones live here.
type adminState struct {
	mu      sync.RWMutex
	added   map[string]Extension
	deleted map[string]bool
	forward map[string]string
}

// ext is the extension numbered num, configured or created, unless it
// was deleted.
func (p *PBX) ext(num string) (Extension, bool) {
	p.admin.mu.RLock()
	defer p.admin.mu.RUnlock()
	if p.admin.deleted[num] {
		return Extension{}, false
	}
	if e, ok := p.admin.added[num]; ok {
		return e, true
	}
	e, ok := p.exts[num]
	return e, ok
}

func (p *PBX) userEvent(name string, fields ...Field) {
	p.emit(Event{Name: "UserEvent", Time: p.now(), Fields: append([]Field{{"UserEvent", name}}, fields...)})
}

// CreateExtension adds an extension (it can register at once) and raises
// CallhookExtension created.
func (p *PBX) CreateExtension(e Extension) error {
	if e.Number == "" {
		return fmt.Errorf("create extension: %w", ErrNoExtension)
	}
	if _, ok := p.ext(e.Number); ok {
		return fmt.Errorf("create extension %s: %w", e.Number, ErrExtensionExists)
	}
	p.admin.mu.Lock()
	if p.admin.added == nil {
		p.admin.added = map[string]Extension{}
	}
	p.admin.added[e.Number] = e
	delete(p.admin.deleted, e.Number)
	p.admin.mu.Unlock()
	p.userEvent("CallhookExtension", Field{"Extension", e.Number}, Field{"Status", "created"}, Field{"Name", e.Name})
	return nil
}

// DeleteExtension removes an extension and its registration and raises
// CallhookExtension deleted.
func (p *PBX) DeleteExtension(num string) error {
	if _, ok := p.ext(num); !ok {
		return fmt.Errorf("delete extension %s: %w", num, ErrNoExtension)
	}
	p.admin.mu.Lock()
	delete(p.admin.added, num)
	if _, configured := p.exts[num]; configured {
		if p.admin.deleted == nil {
			p.admin.deleted = map[string]bool{}
		}
		p.admin.deleted[num] = true
	}
	delete(p.admin.forward, num)
	p.admin.mu.Unlock()
	p.mu.Lock()
	delete(p.regs, num)
	p.mu.Unlock()
	p.userEvent("CallhookExtension", Field{"Extension", num}, Field{"Status", "deleted"})
	return nil
}

// SetForwarding switches ext's call forwarding to dest ("" switches it
// off) and raises CallhookForwarding.
func (p *PBX) SetForwarding(ext, dest string) error {
	if _, ok := p.ext(ext); !ok {
		return fmt.Errorf("set forwarding of %s: %w", ext, ErrNoExtension)
	}
	p.admin.mu.Lock()
	if p.admin.forward == nil {
		p.admin.forward = map[string]string{}
	}
	if dest == "" {
		delete(p.admin.forward, ext)
	} else {
		p.admin.forward[ext] = dest
	}
	p.admin.mu.Unlock()
	if dest == "" {
		p.userEvent("CallhookForwarding", Field{"Extension", ext}, Field{"Status", "off"})
		return nil
	}
	p.userEvent("CallhookForwarding", Field{"Extension", ext}, Field{"Status", "on"}, Field{"Destination", dest})
	return nil
}

// Forwarding is where ext's calls are forwarded to, "" when not.
func (p *PBX) Forwarding(ext string) string {
	p.admin.mu.RLock()
	defer p.admin.mu.RUnlock()
	return p.admin.forward[ext]
}

// AgentLogin logs ext in to (in) or out of (!in) queue, or every queue
// when queue is "", raising CallhookQueueLogin. Pausing in one queue is
// QueuePause.
func (p *PBX) AgentLogin(ext, queue string, in bool) error {
	if _, ok := p.ext(ext); !ok {
		return fmt.Errorf("agent login of %s: %w", ext, ErrNoExtension)
	}
	status := "out"
	if in {
		status = "in"
	}
	fields := []Field{{"Extension", ext}, {"Status", status}}
	if queue != "" {
		fields = append(fields, Field{"Queue", queue})
	}
	p.userEvent("CallhookQueueLogin", fields...)
	return nil
}

func (p *PBX) extName(num string) string {
	e, _ := p.ext(num)
	return e.Name
}
