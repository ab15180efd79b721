package shmlane

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// message is the format string of an error the package builds.
type message struct {
	text   string
	callee string // fmt.Errorf, errors.New or corruptf
}

// errorMessages are the format strings of every error the package builds
// (fmt.Errorf, errors.New, corruptf), by where they stand.
func errorMessages(t *testing.T) map[string]message {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	messages := map[string]message{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var callee string
			switch fun := call.Fun.(type) {
			case *ast.SelectorExpr:
				if pkg, ok := fun.X.(*ast.Ident); ok {
					callee = pkg.Name + "." + fun.Sel.Name
				}
			case *ast.Ident:
				callee = fun.Name
			}
			if callee != "fmt.Errorf" && callee != "errors.New" && callee != "corruptf" {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				text, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				messages[fset.Position(lit.Pos()).String()] = message{text: text, callee: callee}
			}
			return true
		})
	}
	return messages
}

// sentinels are the package's sentinel errors.
var sentinels = []error{ErrDisconnected, ErrNotRing, ErrVersion, ErrCorrupt, ErrWrongKind, ErrRoleTaken,
	ErrTooManyParticipants, ErrMessageTooLarge, ErrWrongMessageSize, ErrBufferTooSmall, ErrPermission,
	ErrNotFound, ErrExists, ErrBadName, ErrBadGeometry, ErrFileTooSmall, ErrNotReady, ErrSymlink, ErrClosed,
	ErrStaleSlot}

// layoutFieldNames are the field names of docs/layout-golden.tsv
// (header.layout_hash gives layout_hash).
func layoutFieldNames(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		cols := strings.Split(scanner.Text(), "\t")
		if len(cols) >= 2 && cols[0] == "field" {
			names[cols[1][strings.LastIndex(cols[1], ".")+1:]] = true
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// Error messages speak of the Go API and the layout, never of Rust items: a
// snake_case word in a message must be a field of the layout (its name in
// docs/layout.md), and Rust's syntax does not appear. Each message is one line
// and says it comes from shmlane: a sentinel starts with "shmlane: ", and
// every other message starts with one wrapped (corruptf wraps ErrCorrupt) or
// with "shmlane: " itself.
func TestErrorMessagesNameTheGoAPINotRust(t *testing.T) {
	messages := errorMessages(t)
	if len(messages) < 40 {
		t.Fatalf("found only %d error messages: the scan is broken", len(messages))
	}
	fields := layoutFieldNames(t)
	snake := regexp.MustCompile(`\b[a-z][a-z0-9]*(_[a-z0-9]+)+\b`)
	for at, m := range messages {
		text := m.text
		for _, rust := range []string{"::", "Rust", "&mut", "Option<", "Result<", "Some(", "None", "_unguarded"} {
			if strings.Contains(text, rust) {
				t.Errorf("%s: message %q holds %q", at, text, rust)
			}
		}
		for _, word := range snake.FindAllString(text, -1) {
			if !fields[word] {
				t.Errorf("%s: message %q names %s, which is not a layout field", at, text, word)
			}
		}
		if strings.Contains(text, "\n") {
			t.Errorf("%s: message %q is more than one line", at, text)
		}
		if m.callee == "fmt.Errorf" && !strings.HasPrefix(text, "shmlane: ") && !strings.HasPrefix(text, "%w") {
			t.Errorf("%s: message %q neither starts with shmlane: nor wraps a sentinel", at, text)
		}
	}
	for _, sentinel := range sentinels {
		if text := sentinel.Error(); !strings.HasPrefix(text, "shmlane: ") || strings.Contains(text, "\n") {
			t.Errorf("sentinel %q does not say it is shmlane's in one line", text)
		}
	}
}
