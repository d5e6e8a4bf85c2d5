package pbx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// realm is the digest realm, Asterisk's default.
const realm = "asterisk"

const (
	defaultExpires = 3600
	nonceLifetime  = 5 * time.Minute
)

// binding is an extension's registered contact.
type binding struct {
	contact   sip.Uri
	transport string
	dest      string // where requests to the phone go
	expires   time.Time
}

// onRegister is the registrar (RFC 3261 section 10.3): an unauthenticated
// REGISTER gets a 401 digest challenge, an authenticated one stores, renews
// or removes the contact.
func (p *PBX) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	to := req.To()
	if to == nil {
		_ = p.respond(tx, req, 400, "Bad Request", "", nil)
		return
	}
	ext, ok := p.ext(to.Address.User)
	if !ok {
		// Challenge anyway, as Asterisk does, so that unknown users cannot
		// be told from wrong passwords.
		if req.GetHeader("Authorization") == nil {
			p.challenge(req, tx)
			return
		}
		_ = p.respond(tx, req, 403, "Forbidden", "", nil)
		return
	}
	if !p.authorize(req, tx, ext) {
		return
	}

	expires := defaultExpires
	if e := req.GetHeader("Expires"); e != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(e.Value())); err == nil {
			expires = n
		}
	}
	c := req.Contact()
	if c != nil {
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				expires = n
			}
		}
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	p.mu.Lock()
	switch {
	case c == nil:
		// A query: answer with the current binding.
	case expires == 0 || c.Address.Wildcard:
		delete(p.regs, ext.Number)
	default:
		b := &binding{
			contact:   *c.Address.Clone(),
			transport: strings.ToUpper(req.Transport()),
			expires:   p.now().Add(time.Duration(expires) * time.Second),
		}
		b.dest = requestDest(req)
		p.regs[ext.Number] = b
	}
	if b := p.regs[ext.Number]; b != nil {
		ch := &sip.ContactHeader{Address: *b.contact.Clone()}
		ch.Params.Add("expires", strconv.Itoa(int(time.Until(b.expires).Seconds()+0.5)))
		res.AppendHeader(ch)
	}
	close(p.regChanged)
	p.regChanged = make(chan struct{})
	p.mu.Unlock()
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	if err := tx.Respond(res); err != nil {
		p.log.Debug("register response failed", "error", err)
	}
	p.log.Info("registered", "ext", ext.Number, "expires", expires, "transport", req.Transport())
}

// authorize checks req's digest credentials for ext. Without valid
// credentials it answers req itself (a 401 challenge, or 403 for a wrong
// password) and returns false.
func (p *PBX) authorize(req *sip.Request, tx sip.ServerTransaction, ext Extension) bool {
	h := req.GetHeader("Authorization")
	if h == nil {
		p.challenge(req, tx)
		return false
	}
	creds, err := digest.ParseCredentials(h.Value())
	if err != nil || !p.validNonce(creds.Nonce) {
		p.challenge(req, tx)
		return false
	}
	chal := &digest.Challenge{Realm: creds.Realm, Nonce: creds.Nonce, Opaque: creds.Opaque, Algorithm: creds.Algorithm}
	if creds.QOP != "" {
		chal.QOP = []string{creds.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method:   string(req.Method),
		URI:      creds.URI,
		Username: ext.Number,
		Password: ext.Password,
		Cnonce:   creds.Cnonce,
		Count:    creds.Nc,
	})
	if err != nil || creds.Username != ext.Number || want.Response != creds.Response {
		p.log.Info("request rejected", "method", req.Method, "ext", ext.Number, "source", req.Source())
		_ = p.respond(tx, req, 403, "Forbidden", "", nil)
		return false
	}
	return true
}

func (p *PBX) challenge(req *sip.Request, tx sip.ServerTransaction) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	p.mu.Lock()
	now := p.now()
	for n, t := range p.nonces {
		if now.Sub(t) > nonceLifetime {
			delete(p.nonces, n)
		}
	}
	p.nonces[nonce] = now
	p.mu.Unlock()
	chal := digest.Challenge{Realm: realm, Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}}
	_ = p.respond(tx, req, 401, "Unauthorized", "", nil, sip.NewHeader("WWW-Authenticate", chal.String()))
}

func (p *PBX) validNonce(n string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.nonces[n]
	return ok && p.now().Sub(t) <= nonceLifetime
}

// lookupBinding returns ext's live contact, or nil.
func (p *PBX) lookupBinding(ext string) *binding {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.regs[ext]
	if b == nil || p.now().After(b.expires) {
		return nil
	}
	return b
}

// WaitRegistered blocks until ext has a live registration or ctx ends.
func (p *PBX) WaitRegistered(ctx context.Context, ext string) error {
	for {
		p.mu.Lock()
		b := p.regs[ext]
		ch := p.regChanged
		p.mu.Unlock()
		if b != nil && p.now().Before(b.expires) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.closing:
			return ErrClosed
		case <-ch:
		}
	}
}
