package esl

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// api runs one api command and returns its output, as the api function
// of the module that registers it writes it (mod_commands.c,
// mod_dptools.c); an unknown command gets api_exec's
// "-ERR <cmd> Command not found!".
func (s *Server) api(cmdline string) string {
	cmd, arg, _ := strings.Cut(strings.TrimSpace(cmdline), " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(cmd) {
	case "show":
		return s.show(arg)
	case "strmicroepoch":
		if arg != "" {
			return "-ERR the simulator converts no date strings"
		}
		return strconv.FormatInt(s.cfg.Now().UnixMicro(), 10)
	case "strepoch":
		if arg != "" {
			return "-ERR the simulator converts no date strings"
		}
		return strconv.FormatInt(s.cfg.Now().Unix(), 10)
	case "status":
		return "UP 0 years, 0 days, 0 hours, 0 minutes, 0 seconds, 0 milliseconds, 0 microseconds\n" +
			"FreeSWITCH (Version 1.10.12 pbxsim) is ready\n"
	case "version":
		return "FreeSWITCH Version 1.10.12-release (pbxsim)\n"
	case "originate":
		return s.originate(arg)
	case "uuid_kill":
		return s.uuidKill(arg)
	}
	return "-ERR " + cmd + " Command not found!\n"
}

// Columns of the channels table and the basic_calls view
// (switch_core_sqldb.c), which "show channels" and "show calls" list.
var (
	channelColumns = []string{"uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
		"ip_addr", "dest", "application", "application_data", "dialplan", "context", "read_codec", "read_rate",
		"read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "secure", "hostname", "presence_id",
		"presence_data", "accountcode", "callstate", "callee_name", "callee_num", "callee_direction", "call_uuid",
		"sent_callee_name", "sent_callee_num", "initial_cid_name", "initial_cid_num", "initial_ip_addr", "initial_dest",
		"initial_dialplan", "initial_context"}
	callColumns = []string{"uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
		"ip_addr", "dest", "presence_id", "presence_data", "accountcode", "callstate", "callee_name", "callee_num",
		"callee_direction", "call_uuid", "hostname", "sent_callee_name", "sent_callee_num", "b_uuid", "b_direction",
		"b_created", "b_created_epoch", "b_name", "b_state", "b_cid_name", "b_cid_num", "b_ip_addr", "b_dest",
		"b_presence_id", "b_presence_data", "b_accountcode", "b_callstate", "b_callee_name", "b_callee_num",
		"b_callee_direction", "b_sent_callee_name", "b_sent_callee_num", "call_created_epoch"}
)

// row is one channel as the channels table holds it.
func (s *Server) row(c *channel) map[string]string {
	calleeDir := ""
	if c.partner != nil {
		calleeDir = strings.ToUpper(c.partner.direction()[:1]) + c.partner.direction()[1:]
	}
	return map[string]string{
		"uuid": c.uuid, "direction": c.direction(), "created": c.created.Format("2006-01-02 15:04:05"),
		"created_epoch": strconv.FormatInt(c.created.Unix(), 10), "name": c.name, "state": c.state,
		"cid_name": c.cidName, "cid_num": c.cidNum, "ip_addr": "127.0.0.1", "dest": c.dest,
		"application": c.app, "application_data": c.appData, "dialplan": "XML", "context": c.context,
		"read_codec": "PCMU", "read_rate": "8000", "read_bit_rate": "64000", "write_codec": "PCMU",
		"write_rate": "8000", "write_bit_rate": "64000", "hostname": s.cfg.Hostname, "callstate": c.callstate,
		"callee_name": c.calleeName, "callee_num": c.calleeNum, "callee_direction": calleeDir,
		"call_uuid": s.tr.callUUID(c), "initial_cid_name": c.cidName, "initial_cid_num": c.cidNum,
		"initial_ip_addr": "127.0.0.1", "initial_dest": c.dest, "initial_dialplan": "XML", "initial_context": c.context,
	}
}

// show answers "show channels" and "show calls", plain or "as json"
// (mod_commands.c show_function: a JSON object with row_count and rows of
// string values, or {"row_count": 0} when nothing is listed).
func (s *Server) show(arg string) string {
	words := strings.Fields(arg)
	if len(words) == 0 {
		return "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n"
	}
	asJSON := len(words) >= 3 && strings.EqualFold(words[len(words)-2], "as") && strings.EqualFold(words[len(words)-1], "json")
	s.mu.Lock()
	var cols []string
	var rows []map[string]string
	switch strings.ToLower(words[0]) {
	case "channels":
		cols = channelColumns
		for _, c := range s.tr.sorted() {
			if c.announced {
				rows = append(rows, s.row(c))
			}
		}
	case "calls":
		cols = callColumns
		for _, c := range s.tr.sorted() {
			if !c.announced {
				continue
			}
			p := c.partner
			if p != nil && t2(p, c) {
				continue // listed as the callee of its partner's row
			}
			r := s.row(c)
			r["call_created_epoch"] = ""
			if p != nil && s.tr.live[p.ami] != nil {
				pr := s.row(p)
				for _, k := range []string{"uuid", "direction", "created", "created_epoch", "name", "state", "cid_name",
					"cid_num", "ip_addr", "dest", "presence_id", "presence_data", "accountcode", "callstate",
					"callee_name", "callee_num", "callee_direction", "sent_callee_name", "sent_callee_num"} {
					r["b_"+k] = pr[k]
				}
				r["call_created_epoch"] = strconv.FormatInt(c.bridged.Unix(), 10)
			}
			rows = append(rows, r)
		}
	default:
		s.mu.Unlock()
		return "-ERR the simulator shows channels and calls only\n"
	}
	s.mu.Unlock()
	if asJSON {
		if len(rows) == 0 {
			return "{\"row_count\": 0}\n"
		}
		var b strings.Builder
		b.WriteString(`{"row_count":` + strconv.Itoa(len(rows)) + `,"rows":[`)
		for i, r := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			for j, k := range cols {
				if j > 0 {
					b.WriteByte(',')
				}
				kb, _ := json.Marshal(k)
				vb, _ := json.Marshal(r[k])
				b.Write(kb)
				b.WriteByte(':')
				b.Write(vb)
			}
			b.WriteByte('}')
		}
		b.WriteString("]}")
		return b.String()
	}
	var b strings.Builder
	b.WriteString(strings.Join(cols, ",") + "\n")
	for _, r := range rows {
		vals := make([]string, len(cols))
		for i, k := range cols {
			vals[i] = r[k]
		}
		b.WriteString(strings.Join(vals, ",") + "\n")
	}
	fmt.Fprintf(&b, "\n%d total.\n", len(rows))
	return b.String()
}

// t2 says whether c is the callee of the pair (p, c): the calls table
// names the bridging leg as caller.
func t2(p, c *channel) bool {
	if c.originator == p {
		return true
	}
	if p.originator == c {
		return false
	}
	return p.seq < c.seq
}

// originate answers "originate <call url> <exten> [dialplan] [context]
// [cid_name] [cid_num] [timeout]" (mod_commands.c ORIGINATE_SYNTAX). The
// simulator has the extension's phone place the call to exten, where
// FreeSWITCH would ring the phone first and then run exten for it; the
// first leg takes origination_uuid when the call url's {} sets it.
func (s *Server) originate(arg string) string {
	args := splitArgs(arg)
	if len(args) < 2 {
		return "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"
	}
	url, exten := args[0], args[1]
	vars := map[string]string{}
	if strings.HasPrefix(url, "{") {
		end := strings.IndexByte(url, '}')
		if end < 0 {
			return "-ERR INVALID_URL\n"
		}
		for _, kv := range strings.Split(url[1:end], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				vars[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), "'")
			}
		}
		url = url[end+1:]
	}
	ext := ""
	switch {
	case strings.HasPrefix(url, "user/"):
		ext, _, _ = strings.Cut(strings.TrimPrefix(url, "user/"), "@")
	case strings.HasPrefix(url, "sofia/internal/"):
		ext, _, _ = strings.Cut(strings.TrimPrefix(url, "sofia/internal/"), "@")
	default:
		// The simulator places calls from its extensions' phones only.
		return "-ERR CHAN_NOT_IMPLEMENTED\n"
	}
	if strings.HasPrefix(exten, "&") || exten == "" {
		return "-ERR the simulator originates to an extension only\n"
	}
	if s.cfg.Originate == nil {
		return "-ERR CHAN_NOT_IMPLEMENTED\n"
	}
	id := vars["origination_uuid"]
	if id == "" {
		id = uuid.NewString()
	}
	s.mu.Lock()
	s.tr.expectOrigination(ext, id)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.cfg.Originate(ctx, ext, exten, id); err != nil {
		s.mu.Lock()
		q := s.tr.origins[ext]
		for i, v := range q {
			if v == id {
				s.tr.origins[ext] = append(q[:i:i], q[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		s.log.Warn("esl originate failed", "ext", ext, "exten", exten, "err", err)
		return "-ERR SUBSCRIBER_ABSENT\n"
	}
	return "+OK " + id + "\n"
}

// uuidKill answers "uuid_kill <uuid> [cause]".
func (s *Server) uuidKill(arg string) string {
	id, _, _ := strings.Cut(arg, " ")
	s.mu.Lock()
	var name string
	for _, c := range s.tr.live {
		if c.uuid == id {
			name = c.amiName
		}
	}
	s.mu.Unlock()
	if name == "" || s.cfg.Hangup == nil {
		return "-ERR No such channel!\n"
	}
	if err := s.cfg.Hangup(name); err != nil {
		return "-ERR No such channel!\n"
	}
	return "+OK\n"
}

// splitArgs splits on spaces as switch_separate_string does, keeping
// single-quoted words and {} blocks whole.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	quote, brace := false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' && brace == 0:
			quote = !quote
			continue
		case c == '{' && !quote:
			brace++
		case c == '}' && !quote && brace > 0:
			brace--
		case c == ' ' && !quote && brace == 0:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteByte(c)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
