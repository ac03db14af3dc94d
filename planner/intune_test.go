package planner

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// psProblems checks what can be checked of a PowerShell script without
// PowerShell: brackets balance outside single-quoted strings and comments,
// quotes close on their line, and no name of the command-line tool leaks
// into it.
func psProblems(script string) []string {
	var out []string
	for _, name := range []string{"winrefix", "--allow-dirty", "--min-free"} {
		if strings.Contains(script, name) {
			out = append(out, "names "+name)
		}
	}
	var stack []rune
	pair := map[rune]rune{')': '(', '}': '{', ']': '['}
	for n, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		quote := rune(0)
		rs := []rune(line)
		for i := 0; i < len(rs); i++ {
			r := rs[i]
			switch {
			case quote == '\'':
				if r == '\'' {
					if i+1 < len(rs) && rs[i+1] == '\'' {
						i++ // '' inside a single-quoted string
					} else {
						quote = 0
					}
				}
				continue
			case quote == '"' && r == '`':
				i++ // escaped character
				continue
			case quote == '"' && r == '"':
				quote = 0
				continue
			case quote == 0 && (r == '\'' || r == '"'):
				quote = r
				continue
			}
			switch r {
			case '(', '{', '[':
				stack = append(stack, r)
			case ')', '}', ']':
				if len(stack) == 0 || stack[len(stack)-1] != pair[r] {
					out = append(out, fmt.Sprintf("line %d: unbalanced %c: %s", n+1, r, line))
					return out
				}
				stack = stack[:len(stack)-1]
			}
		}
		if quote != 0 {
			out = append(out, fmt.Sprintf("line %d: unterminated %c string: %s", n+1, quote, line))
		}
	}
	if len(stack) > 0 {
		out = append(out, fmt.Sprintf("unclosed %q at the end", string(stack)))
	}
	return out
}

func TestPSProblemsCatches(t *testing.T) {
	for _, bad := range []string{"if ($a) { exit 1", "Write-Output 'open", "foo)", "x = \"winrefix\""} {
		if len(psProblems(bad)) == 0 {
			t.Errorf("psProblems(%q) found nothing", bad)
		}
	}
	if p := psProblems("Write-Output 'it''s (fine'\n# a comment (\n$x = \"`\"$($y)\"\n"); len(p) > 0 {
		t.Errorf("false alarm: %v", p)
	}
}

var exitRe = regexp.MustCompile(`(?m)\bexit ([01])\b`)

// TestIntuneScripts checks the Intune pair of every golden case: the
// structure PowerShell needs, the exit codes Intune reads, one line of
// stdout per outcome, nothing on the other streams, and golden files.
func TestIntuneScripts(t *testing.T) {
	for _, c := range planCases() {
		t.Run(c.name, func(t *testing.T) {
			p := New(c.tl.build(), c.opts)
			det, rem := p.IntuneScripts()
			for name, s := range map[string]string{"detection": det, "remediation": rem, "powershell": p.PowerShellScript()} {
				for _, pr := range psProblems(s) {
					t.Errorf("%s: %s", name, pr)
				}
			}
			for name, s := range map[string]string{"detection": det, "remediation": rem} {
				for _, stream := range []string{"Write-Error", "Write-Warning", "Write-Host", "Write-Verbose", "reagentc /info\n"} {
					if strings.Contains(s, stream) {
						t.Errorf("%s uses %s: Intune reads stdout only, and stderr marks a script error", name, strings.TrimSpace(stream))
					}
				}
			}
			codes := map[string]bool{}
			for _, m := range exitRe.FindAllStringSubmatch(det, -1) {
				codes[m[1]] = true
			}
			if !codes["0"] || !codes["1"] {
				t.Errorf("detection exits %v, want both 0 and 1", codes)
			}
			if !strings.Contains(det, fmt.Sprintf("$required = %d", p.WinRE.RequiredFreeBytes)) && p.WinRE.RequiredFreeBytes > 0 {
				t.Errorf("detection does not use the plan's required free space %d", p.WinRE.RequiredFreeBytes)
			}
			codes = map[string]bool{}
			for _, m := range exitRe.FindAllStringSubmatch(rem, -1) {
				codes[m[1]] = true
			}
			if !codes["1"] || p.Scriptable() != codes["0"] {
				t.Errorf("remediation exits %v; scriptable %v", codes, p.Scriptable())
			}
			golden(t, filepath.Join("testdata", "intune", c.name+".golden"), "==== detection ====\n"+det+"\n==== remediation ====\n"+rem)
		})
	}
}
