// Package docs_test checks the documentation: every relative link of
// README.md and docs/*.md, and every #anchor, leads somewhere.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	fence      = regexp.MustCompile("(?ms)^```.*?^```[^\n]*$")
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	// link is [text](target) or ![alt](target), with an optional "title".
	link    = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
	htmlID  = regexp.MustCompile(`(?i)<a\s+(?:name|id)="([^"]+)"`)
)

// prose is a Markdown text without its code: links in code are examples.
func prose(md string) string {
	return inlineCode.ReplaceAllString(fence.ReplaceAllString(md, ""), "")
}

// anchors returns the #anchors GitHub makes for md's headings: lower
// case, punctuation dropped, spaces as hyphens, repeats numbered.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(md, ""), -1) {
		text := regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(m[1], "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	for _, m := range htmlID.FindAllStringSubmatch(md, -1) {
		out[m[1]] = true
	}
	return out
}

// TestLinksResolve: each relative link names a file or directory of the
// repository, and each #anchor a heading of the file it points into.
func TestLinksResolve(t *testing.T) {
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	require.Greater(t, len(files), 4, "README.md and the docs")

	texts := map[string]string{}
	read := func(path string) string {
		if s, ok := texts[path]; ok {
			return s
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		texts[path] = string(b)
		return string(b)
	}
	links := 0
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		for _, m := range link.FindAllStringSubmatch(prose(read(file)), -1) {
			target := m[1]
			if regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`).MatchString(target) {
				continue // http:, https:, mailto: are not the repository's
			}
			links++
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				if !strings.HasPrefix(dest, root+string(filepath.Separator)) && dest != root {
					t.Errorf("%s: link %q leaves the repository", rel, target)
					continue
				}
				info, err := os.Stat(dest)
				if err != nil {
					t.Errorf("%s: link %q: no such file or directory", rel, target)
					continue
				}
				if info.IsDir() {
					if anchor != "" {
						t.Errorf("%s: link %q: an anchor into a directory", rel, target)
					}
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s: link %q: an anchor into a file that is not Markdown", rel, target)
				continue
			}
			if !anchors(read(dest))[anchor] {
				t.Errorf("%s: link %q: no heading makes #%s in %s", rel, target, anchor, filepath.Base(dest))
			}
		}
	}
	assert.Greater(t, links, 20, "the links were found")
}

// TestAnchorsAsGitHubMakesThem pins the slug rules the check relies on.
func TestAnchorsAsGitHubMakesThem(t *testing.T) {
	got := anchors("# Title\n## Keys and projects\n## `make reset`\n## consume-batch — JetStream to PostgreSQL\n" +
		"## Dead letters\n## Dead letters\n```\n## not a heading\n```\n## [docs/api.md](docs/api.md) links\n")
	for _, want := range []string{"title", "keys-and-projects", "make-reset", "consume-batch--jetstream-to-postgresql",
		"dead-letters", "dead-letters-1", "docsapimd-links"} {
		assert.True(t, got[want], "%s in %v", want, got)
	}
	assert.False(t, got["not-a-heading"])
}
