package shmlane

import (
	"bufio"
	"context"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Go snippets of the repository's docs are compiled, so that they stay
// right as the API changes. In README.md, bindings-go/README.md and docs/*.md
// every ```go block is one of:
//
//   - a whole program: the block starts with "package"; it is built as a
//     main package of its own and run, and must exit with status 0;
//   - a fragment: any other block, compiled as the body of a function
//
//     func(ctx context.Context, producer *shmlane.Producer, consumer *shmlane.Consumer) error
//
//     in a file that imports context, errors, fmt, time and shmlane (those it
//     does not use are fine); it may declare its own ring, producer, ... .
//
// go vet runs over all of them, in a module of their own that replaces
// shmlane.dev/shmlane with this directory. Errors point at the lines of the
// Markdown file (//line directives).

// snippetDocs are the Markdown files whose Go blocks are checked; go.md must
// hold some, or the extraction is broken.
func snippetDocs(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../README.md", "README.md"}, docs...)
}

type snippet struct {
	doc  string // absolute path of the Markdown file
	line int    // line of the block's first line of code
	code string
}

func (s snippet) program() bool { return strings.HasPrefix(strings.TrimSpace(s.code), "package ") }

// goSnippets are the ```go blocks of the Markdown file at path.
func goSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(abs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []snippet
	var current *snippet
	var lines []string
	scanner := bufio.NewScanner(f)
	for n := 1; scanner.Scan(); n++ {
		text := scanner.Text()
		trimmed := strings.TrimSpace(text)
		switch {
		case current == nil && trimmed == "```go":
			current = &snippet{doc: abs, line: n + 1}
			lines = nil
		case current != nil && trimmed == "```":
			current.code = strings.Join(lines, "\n") + "\n"
			found = append(found, *current)
			current = nil
		case current != nil:
			lines = append(lines, text)
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	if current != nil {
		t.Fatalf("%s:%d: a ```go block that never ends", abs, current.line-1)
	}
	return found
}

const fragmentPrelude = `package fragments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"shmlane.dev/shmlane"
)

var (
	_ = context.Background
	_ = errors.Is
	_ = fmt.Sprint
	_ = time.Second
	_ = shmlane.Open
)
`

// goTool is the go command of the toolchain running the tests.
func goTool(t *testing.T) string {
	t.Helper()
	tool := filepath.Join(build.Default.GOROOT, "bin", "go")
	if _, err := os.Stat(tool); err == nil {
		return tool
	}
	tool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build the docs' snippets with: %v", err)
	}
	return tool
}

func TestGoSnippetsOfTheDocsCompileAndRun(t *testing.T) {
	var snippets []snippet
	perDoc := map[string]int{}
	for _, doc := range snippetDocs(t) {
		found := goSnippets(t, doc)
		perDoc[filepath.Base(doc)] += len(found)
		snippets = append(snippets, found...)
	}
	if perDoc["go.md"] < 3 {
		t.Fatalf("found %d Go snippets in docs/go.md: the extraction is broken", perDoc["go.md"])
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	module := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(module, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", fmt.Sprintf("module shmlane.dev/docsnippets\n\ngo 1.23\n\n"+
		"require shmlane.dev/shmlane v0.0.0\n\nreplace shmlane.dev/shmlane => %s\n", here))
	var programs []string
	for i, s := range snippets {
		directive := fmt.Sprintf("//line %s:%d\n", s.doc, s.line)
		if s.program() {
			dir := fmt.Sprintf("program%d", i)
			write(filepath.Join(dir, "main.go"), directive+s.code)
			programs = append(programs, dir)
			continue
		}
		write(filepath.Join("fragments", fmt.Sprintf("fragment%d.go", i)), fmt.Sprintf(
			"%s\nfunc fragment%d(ctx context.Context, producer *shmlane.Producer, consumer *shmlane.Consumer) error {\n\t{\n%s%s\t}\n\treturn nil\n}\n",
			fragmentPrelude, i, directive, s.code))
	}
	tool := goTool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang detector
	defer cancel()
	run := func(dir string, name string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		// The module needs nothing from the network: shmlane is replaced by
		// this directory and has no dependencies.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
	}
	run(module, tool, "vet", "./...")
	for _, dir := range programs {
		binary := filepath.Join(module, dir, "snippet")
		run(module, tool, "build", "-o", binary, "./"+dir)
		run(module, binary)
	}
	t.Logf("%d snippets (%d whole programs) of %v compile; the programs ran", len(snippets), len(programs), perDoc)
}
