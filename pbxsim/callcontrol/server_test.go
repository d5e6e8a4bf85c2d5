package callcontrol_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/callhook/callhook/core/waitfor"
	"github.com/callhook/callhook/pbxsim/callcontrol"
	"github.com/callhook/callhook/pbxsim/scenario"
	"github.com/callhook/callhook/pbxsim/sim"
)

func start(t *testing.T) *sim.Sim {
	t.Helper()
	s, err := sim.Start(t.Context(), sim.Config{Speed: 10, ThreeCXAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func token(t *testing.T, cc *callcontrol.Server, secret string) (int, callcontrol.Token, map[string]string) {
	t.Helper()
	res, err := http.PostForm(cc.URL()+"/connect/token", url.Values{"client_id": {cc.ClientID()}, "client_secret": {secret},
		"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var tok callcontrol.Token
	var oauthErr map[string]string
	_ = json.Unmarshal(b, &tok)
	_ = json.Unmarshal(b, &oauthErr)
	return res.StatusCode, tok, oauthErr
}

func get(t *testing.T, cc *callcontrol.Server, tok, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, cc.URL()+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return res.StatusCode
}

// The token endpoint takes the API client's credentials only, and the
// API answers only requests that carry its token.
func TestAuth(t *testing.T) {
	cc := start(t).ThreeCX()
	if code, _, e := token(t, cc, "wrong"); code != http.StatusBadRequest || e["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v, want 400 invalid_client", code, e)
	}
	code, tok, _ := token(t, cc, cc.ClientSecret())
	if code != http.StatusOK || tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("token: %d %+v", code, tok)
	}
	if code := get(t, cc, "", "/callcontrol", nil); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code := get(t, cc, "nonsense", "/xapi/v1/Users", nil); code != http.StatusUnauthorized {
		t.Errorf("bad token: %d, want 401", code)
	}
	var dns []callcontrol.DNInfo
	if code := get(t, cc, tok.AccessToken, "/callcontrol", &dns); code != http.StatusOK {
		t.Fatalf("GET /callcontrol: %d", code)
	}
	types := map[string]string{}
	for _, d := range dns {
		types[d.DN] = d.Type
	}
	for dn, want := range map[string]string{"101": callcontrol.TypeExtension, "800": callcontrol.TypeQueue, "600": callcontrol.TypeRingGroup,
		"500": callcontrol.TypeIVR, "10000": callcontrol.TypeExternalLine, cc.ClientID(): callcontrol.TypeRoutePoint} {
		if types[dn] != want {
			t.Errorf("DN %s is %q, want %q", dn, types[dn], want)
		}
	}
	if code := get(t, cc, tok.AccessToken, "/callcontrol/101/participants/999", nil); code != http.StatusNotFound {
		t.Errorf("unknown participant: %d, want 404", code)
	}
	cc.ExpireTokens()
	if code := get(t, cc, tok.AccessToken, "/callcontrol", nil); code != http.StatusUnauthorized {
		t.Errorf("expired token: %d, want 401", code)
	}
}

// Administrative changes show in XAPI: forwarding through the Away
// profile, the global queue status, users created and deleted (with an
// upsert and a removal of their DN on the event stream).
func TestXAPIFollowsAdministration(t *testing.T) {
	s := start(t)
	cc := s.ThreeCX()
	_, tok, _ := token(t, cc, cc.ClientSecret())
	msgs := stream(t, cc, tok.AccessToken)
	ctx := t.Context()
	for _, a := range []scenario.AdminStep{{Action: "forwarding-on", Ext: "102", Destination: "12125550199"}, {Action: "extension-create", Ext: "105", Name: "Erin 105"}} {
		if err := s.Admin(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Agent(ctx, scenario.AgentStep{Action: "logout", Ext: "101"}); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, 10*time.Second, "the DN upsert of extension 105", func() string {
		if strings.Contains(strings.Join(msgs(), "\n"), `"entity":"/callcontrol/105"`) {
			return ""
		}
		return fmt.Sprint(msgs())
	})
	var users struct{ Value []callcontrol.User }
	get(t, cc, tok.AccessToken, "/xapi/v1/Users?$expand=ForwardingProfiles", &users)
	byNum := map[string]callcontrol.User{}
	for _, u := range users.Value {
		byNum[u.Number] = u
	}
	if u := byNum["102"]; u.CurrentProfileName != "Away" {
		t.Errorf("102's profile %q, want Away", u.CurrentProfileName)
	}
	if u := byNum["101"]; u.QueueStatus != "LoggedOut" {
		t.Errorf("101's queue status %q, want LoggedOut", u.QueueStatus)
	}
	if u, ok := byNum["105"]; !ok || u.DisplayName != "Erin 105" {
		t.Errorf("105: %+v", u)
	}
	if code := get(t, cc, tok.AccessToken, "/xapi/v1/ReportCallLogData/Pbx.GetCallLogData(periodFrom=x)?$filter=Answered%20eq%20true", nil); code != http.StatusBadRequest {
		t.Errorf("call log filtered by another field: %d, want 400", code)
	}
}

// stream opens the event stream and returns what it has received so far.
func stream(t *testing.T, cc *callcontrol.Server, tok string) func() []string {
	t.Helper()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Bearer " + tok}})}
	conn, _, _, err := d.Dial(context.Background(), strings.Replace(cc.URL(), "http://", "ws://", 1)+"/callcontrol/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var mu sync.Mutex
	var got []string
	go func() {
		for {
			b, _, err := wsutil.ReadServerData(conn)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(b))
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// MakeCall has the extension's device place the call, and answers with
// its new participant; a DN that is not an extension is refused.
func TestMakeCall(t *testing.T) {
	s := start(t)
	cc := s.ThreeCX()
	_, tok, _ := token(t, cc, cc.ClientSecret())
	post := func(path, body string) (int, callcontrol.CallControlResult) {
		req, _ := http.NewRequest(http.MethodPost, cc.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r callcontrol.CallControlResult
		_ = json.NewDecoder(res.Body).Decode(&r)
		return res.StatusCode, r
	}
	code, r := post("/callcontrol/101/makecall", `{"destination":"102"}`)
	if code != http.StatusOK || r.FinalStatus != 1 || r.Result == nil || r.Result.DN != "101" || r.Result.CallID == 0 {
		t.Fatalf("makecall: %d %+v", code, r)
	}
	if code, r := post("/callcontrol/800/makecall", `{"destination":"102"}`); code != http.StatusNotFound || r.FinalStatus != -1 {
		t.Errorf("makecall from a queue: %d %+v, want 404 Failed", code, r)
	}
	if code, _ := post("/callcontrol/101/makecall", `{}`); code != http.StatusBadRequest {
		t.Errorf("makecall without destination: %d, want 400", code)
	}
	if err := s.PBX().WaitIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	// An outbound call: the call log names the line and the number called
	// (Pbx.CallLogData DestinationDn, DestinationCallerId).
	if code, r := post("/callcontrol/101/makecall", `{"destination":"912125550199"}`); code != http.StatusOK || r.FinalStatus != 1 {
		t.Fatalf("makecall out: %d %+v", code, r)
	}
	if err := s.PBX().WaitIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Value []callcontrol.CallLogData `json:"value"`
	}
	if code := get(t, cc, tok.AccessToken, "/xapi/v1/ReportCallLogData/Pbx.GetCallLogData(periodFrom=x)", &log); code != http.StatusOK {
		t.Fatalf("call log: %d", code)
	}
	var dest []string
	for _, row := range log.Value {
		dest = append(dest, row.SourceDn+">"+row.DestinationDn+" "+row.DestinationCaller)
	}
	if want := []string{"101>102 102", "101>" + callcontrol.DefaultTrunkDN + " 12125550199"}; !slices.Equal(dest, want) {
		t.Errorf("call log rows (source>destination number) %q, want %q", dest, want)
	}
}
