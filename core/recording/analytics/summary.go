package analytics

import (
	"sort"
	"strings"
	"unicode"
)

// Summarize returns an extractive summary of text: the up to n sentences
// whose words are most frequent in the whole text (stop words and very
// short words ignored, score normalised by sentence length), kept in
// their original order. It needs no model and works for any language
// written with spaces; a text of n sentences or fewer is returned whole.
func Summarize(text string, n int) string {
	if n <= 0 {
		n = 2
	}
	sents := sentences(text)
	if len(sents) <= n {
		return strings.Join(sents, " ")
	}
	freq := map[string]int{}
	words := make([][]string, len(sents))
	for i, s := range sents {
		words[i] = contentWords(s)
		for _, w := range words[i] {
			freq[w]++
		}
	}
	type scored struct {
		i     int
		score float64
	}
	sc := make([]scored, len(sents))
	for i, ws := range words {
		sum := 0
		for _, w := range ws {
			sum += freq[w]
		}
		s := 0.0
		if len(ws) > 0 {
			s = float64(sum) / float64(len(ws)+2) // +2 damps one-word sentences
		}
		sc[i] = scored{i, s}
	}
	sort.SliceStable(sc, func(a, b int) bool { return sc[a].score > sc[b].score })
	pick := sc[:n]
	sort.Slice(pick, func(a, b int) bool { return pick[a].i < pick[b].i })
	out := make([]string, n)
	for k, p := range pick {
		out[k] = sents[p.i]
	}
	return strings.Join(out, " ")
}

// sentences splits text at ., !, ?, … and line breaks.
func sentences(text string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for _, r := range text {
		if r == '\n' {
			flush()
			continue
		}
		cur.WriteRune(r)
		if r == '.' || r == '!' || r == '?' || r == '…' {
			flush()
		}
	}
	flush()
	return out
}

func contentWords(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len([]rune(w)) < 3 || stop[w] {
			continue
		}
		out = append(out, w)
	}
	return out
}

// stop holds frequent function words of the product's languages
// (English, Russian, Turkish) that say nothing about a call's topic.
var stop = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`the and for you your with that this have are was were will would can could
		not but all our they them then than there here what when where which who how yes okay hello thank thanks please
		это что как так вот все уже еще или для его она они мне вам вас нас был была было будет есть нет да алло здравствуйте спасибо пожалуйста
		bir bu şu ve ile için ama çok daha gibi var yok evet hayır merhaba teşekkür lütfen ben sen biz siz onlar`) {
		m[w] = true
	}
	return m
}()
