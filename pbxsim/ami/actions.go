package ami

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Responses, framed as manager.c's astman_send_response_full frames them:
// Response, then ActionID when the request had one, then the rest.

// Success is astman_send_ack: "Response: Success", ActionID, Message.
func Success(req Message, msg string) Message {
	return append(respond(req, "Success"), Field{"Message", msg})
}

// Error is astman_send_error: "Response: Error", ActionID, Message.
func Error(req Message, msg string) Message {
	return append(respond(req, "Error"), Field{"Message", msg})
}

// ListStart is astman_send_listack, the response that opens an event list.
func ListStart(req Message, msg string) Message {
	return append(respond(req, "Success"), Field{"EventList", "start"}, Field{"Message", msg})
}

// ListComplete is the event that closes an event list of n items
// (astman_send_list_complete_start/end).
func ListComplete(req Message, event string, n int) Message {
	m := Message{{"Event", event}}
	if id := header(req, "ActionID"); id != "" {
		m = append(m, Field{"ActionID", id})
	}
	return append(m, Field{"EventList", "Complete"}, Field{"ListItems", strconv.Itoa(n)})
}

func respond(req Message, response string) Message {
	m := Message{{"Response", response}}
	if id := header(req, "ActionID"); id != "" {
		m = append(m, Field{"ActionID", id})
	}
	return m
}

// Event classes, manager.h's EVENT_FLAG_* bits; "all" is every bit.
var classes = []struct {
	label string
	bit   int
}{
	{"system", 1 << 0}, {"call", 1 << 1}, {"log", 1 << 2}, {"verbose", 1 << 3},
	{"command", 1 << 4}, {"agent", 1 << 5}, {"user", 1 << 6}, {"config", 1 << 7},
	{"dtmf", 1 << 8}, {"reporting", 1 << 9}, {"cdr", 1 << 10}, {"dialplan", 1 << 11},
	{"originate", 1 << 12}, {"agi", 1 << 13}, {"cc", 1 << 15}, {"aoc", 1 << 16},
	{"test", 1 << 17}, {"security", 1 << 18}, {"message", 1 << 30},
	{"all", math.MaxInt32}, {"none", 0},
}

const (
	classSystem    = 1 << 0
	classReporting = 1 << 9
	classSecurity  = 1 << 18
)

// classOf is the class bit of an event from its Privilege ("call,all").
func classOf(privilege string) int {
	first, _, _ := strings.Cut(privilege, ",")
	for _, c := range classes {
		if c.label == first {
			return c.bit
		}
	}
	return 0
}

// eventMask is manager.c's strings_to_mask for the Events header of Login
// and the EventMask header of Events: -1 when empty (no change), a number
// as is, a false word 0, a true word every class, else the named classes.
func eventMask(s string) int {
	if s == "" {
		return -1
	}
	if strings.Trim(s, "0123456789") == "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > math.MaxInt32 {
			return math.MaxInt32
		}
		return int(n)
	}
	switch strings.ToLower(s) {
	case "no", "false", "n", "f", "0", "off":
		return 0
	case "yes", "true", "y", "t", "1", "on":
		return math.MaxInt32
	}
	mask := 0
	for _, item := range strings.Split(s, ",") {
		for _, c := range classes {
			if c.label == item {
				mask |= c.bit
			}
		}
	}
	return mask
}

// authority is the write class a built-in action needs, as manager.c
// registers them; an action not listed is open to every logged-in user.
var authority = map[string]int{
	"filter":           classSystem,
	"coreshowchannels": classSystem | classReporting,
}

// writePerm is manager.c's get_perm of the user's write option: the
// classes named in the list; a user without one may run everything.
func writePerm(write map[string]string, user string) int {
	list, ok := write[strings.ToLower(user)]
	if !ok {
		return -1
	}
	perm := 0
	for _, item := range strings.Split(list, ",") {
		for _, c := range classes {
			if c.label == strings.TrimSpace(item) {
				perm |= c.bit
			}
		}
	}
	return perm
}

// handle runs one request and reports whether the session goes on. Only
// Login, Logoff and Challenge are allowed before login, as in manager.c's
// process_message.
func (ss *session) handle(req Message) bool {
	action := actionName(req)
	if action == "" {
		ss.send(Error(req, "Missing action in request"))
		return true
	}
	switch strings.ToLower(action) {
	case "login":
		return ss.login(req)
	case "logoff":
		ss.logoff(req)
		return false
	case "challenge":
		ss.challengeAction(req)
		return true
	}
	if !ss.authed {
		ss.send(Error(req, "Permission denied"))
		return true
	}
	if a := authority[strings.ToLower(action)]; a != 0 && ss.write&a == 0 {
		ss.send(Error(req, "Permission denied"))
		return true
	}
	switch strings.ToLower(action) {
	case "events":
		ss.events(req)
		return true
	case "filter":
		ss.filter(req)
		return true
	}
	a, ok := ss.srv.actions[strings.ToLower(action)]
	if !ok && strings.EqualFold(action, "CoreShowChannels") {
		ss.coreShowChannels(req)
		return true
	}
	if !ok {
		ss.send(Error(req, fmt.Sprintf(
			"Invalid/unknown command: %s. Use Action: ListCommands to show available commands.", action)))
		return true
	}
	for _, m := range a(req) {
		ss.send(m)
	}
	return true
}

func (ss *session) login(req Message) bool {
	if ss.authed {
		ss.send(Success(req, "Already authenticated"))
		return true
	}
	user, ok := ss.authenticate(req)
	if !ok {
		ss.log.Info("ami login failed", "user", header(req, "Username"))
		if d := ss.srv.cfg.AuthFailureDelay; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ss.done:
				t.Stop()
				return false
			}
		}
		ss.send(Error(req, "Authentication failed"))
		return false
	}
	_ = ss.conn.SetReadDeadline(time.Time{})
	srv := ss.srv
	now := srv.cfg.Now()
	ss.loginAt = now
	mask := ss.mask
	if m := eventMask(header(req, "Events")); m >= 0 {
		mask = m
	}

	// One critical section: no PBX event may come between the response and
	// FullyBooted, and SuccessfulAuth reaches this session too.
	srv.mu.Lock()
	ss.send(Success(req, "Authentication accepted"))
	if mask&classSystem == classSystem {
		up := strconv.FormatInt(int64(now.Sub(srv.started)/time.Second), 10)
		ss.send(Message{
			{"Event", "FullyBooted"}, {"Privilege", Privilege("FullyBooted")},
			{"Uptime", up}, {"LastReload", up}, {"Status", "Fully Booted"},
		})
	}
	ss.authed, ss.mask, ss.username = true, mask, user
	ss.write = writePerm(srv.cfg.Write, user)
	srv.broadcastLocked(ss.successfulAuth(now).Bytes(), classSecurity)
	srv.mu.Unlock()
	ss.log.Info("ami login", "user", user)
	return true
}

// authenticate checks Username with Secret, or with AuthType MD5 and Key =
// md5(challenge + secret) in lower-case hex.
func (ss *session) authenticate(req Message) (string, bool) {
	username := header(req, "Username")
	if username == "" {
		return "", false
	}
	secret, ok := ss.srv.cfg.Users[strings.ToLower(username)]
	if !ok {
		return "", false
	}
	var got, want string
	if strings.EqualFold(header(req, "AuthType"), "MD5") {
		if ss.challenge == "" {
			return "", false
		}
		sum := md5.Sum([]byte(ss.challenge + secret))
		got, want = header(req, "Key"), hex.EncodeToString(sum[:])
	} else {
		got, want = header(req, "Secret"), secret
	}
	if got == "" && want != "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return "", false
	}
	return username, true
}

// challengeAction answers Challenge: a session keeps one challenge, a
// decimal number of at most nine digits as manager.c makes it.
func (ss *session) challengeAction(req Message) {
	if !strings.EqualFold(header(req, "AuthType"), "MD5") {
		ss.send(Error(req, "Must specify AuthType"))
		return
	}
	if ss.challenge == "" {
		c := strconv.FormatInt(rand.Int64N(1<<31), 10)
		ss.challenge = c[:min(len(c), 9)]
	}
	ss.send(append(respond(req, "Success"), Field{"Challenge", ss.challenge}))
}

// events is the Events action: EventMask on, off or a class list.
func (ss *session) events(req Message) {
	mask := eventMask(header(req, "EventMask"))
	if mask >= 0 {
		ss.srv.mu.Lock()
		ss.mask = mask
		ss.srv.mu.Unlock()
	}
	switch {
	case mask > 0:
		ss.send(append(respond(req, "Success"), Field{"Events", "On"}))
	case mask == 0:
		ss.send(append(respond(req, "Success"), Field{"Events", "Off"}))
	default:
		ss.send(Error(req, "Invalid event mask"))
	}
}

// filter is the Filter action: the filter applies to the events
// broadcast after it, to this session only, for the session's life.
func (ss *session) filter(req Message) {
	ss.srv.mu.Lock()
	ok, msg := FilterAction(&ss.filters, header(req, "Operation"), header(req, "MatchCriteria"), header(req, "Filter"))
	ss.srv.mu.Unlock()
	if ok {
		ss.send(Success(req, msg))
		return
	}
	ss.send(Error(req, msg))
}

func (ss *session) logoff(req Message) {
	ss.srv.mu.Lock()
	ss.authed = false
	ss.srv.mu.Unlock()
	ss.send(append(respond(req, "Goodbye"), Field{"Message", "Thanks for all the fish."}))
}

// successfulAuth is the security event Asterisk raises for a login.
func (ss *session) successfulAuth(now time.Time) Message {
	m := Message{{"Event", "SuccessfulAuth"}, {"Privilege", Privilege("SuccessfulAuth")}}
	if ss.srv.cfg.TimestampEvents {
		m = append(m, Field{"Timestamp", Timestamp(now)})
	}
	return append(m,
		Field{"EventTV", eventTV(now)},
		Field{"Severity", "Informational"},
		Field{"Service", "AMI"},
		Field{"EventVersion", "1"},
		Field{"AccountID", ss.username},
		Field{"SessionID", fmt.Sprintf("0x%x", 0x55b73f2e0000+ss.id<<5)},
		Field{"LocalAddress", securityAddr(ss.conn.LocalAddr())},
		Field{"RemoteAddress", securityAddr(ss.conn.RemoteAddr())},
		Field{"UsingPassword", "0"},
		Field{"SessionTV", eventTV(ss.loginAt)},
	)
}

// eventTV is a security event's time: "2026-11-24T01:00:56.696+0000".
func eventTV(t time.Time) string { return t.Format("2006-01-02T15:04:05.000-0700") }

// securityAddr is a security event's address: "IPV4/TCP/127.0.0.1/5038".
func securityAddr(a net.Addr) string {
	var ap netip.AddrPort
	if ta, ok := a.(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	} else if p, err := netip.ParseAddrPort(a.String()); err == nil {
		ap = p
	} else {
		return a.String()
	}
	ip, family := ap.Addr().Unmap(), "IPV6"
	if ip.Is4() {
		family = "IPV4"
	}
	return fmt.Sprintf("%s/TCP/%s/%d", family, ip, ap.Port())
}

// builtinActions are the actions every session has after login, besides
// Events (which changes the session itself) and CoreShowChannels (which
// reads the channel table under the broadcast lock).
func builtinActions(s *Server) map[string]Action {
	return map[string]Action{
		"ping": func(req Message) []Message {
			return []Message{append(respond(req, "Success"),
				Field{"Ping", "Pong"}, Field{"Timestamp", Timestamp(s.cfg.Now())})}
		},
	}
}

// coreShowChannels answers CoreShowChannels. With Config.Channels it lists
// what that gives; otherwise the server's own channel table, read and
// queued under the lock every broadcast holds, so the list sits in the
// session's stream exactly where the events it reflects end.
func (ss *session) coreShowChannels(req Message) {
	s := ss.srv
	if s.cfg.Channels != nil {
		for _, m := range s.channelList(req, s.cfg.Channels.ShowChannels()) {
			ss.send(m)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.channelList(req, s.table.list()) {
		ss.send(m)
	}
}

// channelList shapes chans as Asterisk 22's action_coreshowchannels
// (main/manager.c) does: the list response, then per channel Event:
// CoreShowChannel, the ActionID, the channel block
// (ast_manager_build_channel_state_string_prefix), Application,
// ApplicationData, Duration (HH:MM:SS since the channel was created) and
// BridgeId, in that order; then CoreShowChannelsComplete with ListItems.
func (s *Server) channelList(req Message, chans []ChannelInfo) []Message {
	id := header(req, "ActionID")
	now := s.cfg.Now()
	out := []Message{ListStart(req, "Channels will follow")}
	for _, c := range chans {
		m := Message{{"Event", "CoreShowChannel"}}
		if id != "" {
			m = append(m, Field{"ActionID", id})
		}
		m = appendFields(m, c.Channel.Fields(""))
		dur := ""
		if !c.Created.IsZero() {
			d := max(int(now.Sub(c.Created)/time.Second), 0)
			dur = fmt.Sprintf("%02d:%02d:%02d", d/3600, d%3600/60, d%60)
		}
		out = append(out, append(m,
			Field{"Application", c.Application},
			Field{"ApplicationData", c.ApplicationData},
			Field{"Duration", dur},
			Field{"BridgeId", c.BridgeID},
		))
	}
	return append(out, ListComplete(req, "CoreShowChannelsComplete", len(chans)))
}
