package callcontrol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// client speaks 3CX's HTTP APIs with one OAuth 2 access token, fetched
// with the API client's credentials (client credentials grant at
// /connect/token, [cc-types] ExternalApiService.receiveToken) and shared
// by the REST calls, the WebSocket and XAPI: 3CX keeps one token per
// client active at a time ([xapi] README: "only one access token can be
// active at a time").
type client struct {
	base    *url.URL
	id      string
	secret  Secret
	http    *http.Client
	timeout time.Duration

	mu      sync.Mutex
	token   string
	expires time.Time
}

// tokenMargin is how long before its expiry a token is replaced.
const tokenMargin = 30 * time.Second

// accessToken returns a valid token, fetching one when there is none or it
// is about to expire.
func (c *client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Until(c.expires) > 0 {
		return c.token, nil
	}
	form := url.Values{"client_id": {c.id}, "client_secret": {string(c.secret)}, "grant_type": {"client_credentials"}}
	u := c.base.JoinPath("connect", "token").String()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request to %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request to %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var tr tokenResponse
	jerr := json.Unmarshal(body, &tr)
	switch {
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		why := tr.Error
		if tr.ErrorDescription != "" {
			why += ": " + tr.ErrorDescription
		}
		if why == "" {
			why = strings.TrimSpace(string(body))
		}
		return "", fmt.Errorf("token for client %q at %s: %w: %s %s", c.id, u, ErrAuth, resp.Status, why)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("token for client %q at %s: %s", c.id, u, resp.Status)
	case jerr != nil:
		return "", fmt.Errorf("token for client %q at %s: %w: %w", c.id, u, ErrMalformed, jerr)
	case tr.AccessToken == "":
		return "", fmt.Errorf("token for client %q at %s: %w: no access_token", c.id, u, ErrMalformed)
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = time.Hour
	}
	// Replace it a little before it lapses (a tenth of a short lifetime).
	c.token, c.expires = tr.AccessToken, time.Now().Add(ttl-min(tokenMargin, ttl/10))
	return c.token, nil
}

// forget drops a token the PBX refused, so the next call fetches another.
func (c *client) forget(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// errNotFound: the entity does not exist (any more).
var errNotFound = errors.New("not found")

// do sends one request with the token and decodes a JSON answer into out.
// A 401 fetches a new token and tries once more.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	u := c.base.String() + path
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		var body io.Reader
		if in != nil {
			b, err := json.Marshal(in)
			if err != nil {
				return fmt.Errorf("%s %s: %w", method, path, err)
			}
			body = bytes.NewReader(b)
		}
		rctx, cancel := context.WithTimeout(ctx, c.timeout)
		req, err := http.NewRequestWithContext(rctx, method, u, body)
		if err != nil {
			cancel()
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			cancel()
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		cancel()
		switch {
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			c.forget(tok)
			continue
		case resp.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%s %s: %w", method, path, errNotFound)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%s %s: %w: %s", method, path, ErrRights, resp.Status)
		case resp.StatusCode/100 != 2:
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
		case rerr != nil:
			return fmt.Errorf("%s %s: read answer: %w", method, path, rerr)
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: %w: %w", method, path, ErrMalformed, err)
		}
		return nil
	}
}

func (c *client) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// wsURL is the event stream's address: the base URL with ws(s) for
// http(s), at /callcontrol/ws ([cc-types] ExternalApiService.createWs).
func (c *client) wsURL() string {
	u := *c.base.JoinPath("callcontrol", "ws")
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	return u.String()
}
