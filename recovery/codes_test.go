package recovery

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestProblemCodesDeclared reads the package's sources and checks that
// every problem Inspect reports about Windows takes its code from a
// constant of codes.go (so the exported list is complete), that those
// constants are distinct kebab-case strings, and that each is used.
func TestProblemCodesDeclared(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{} // name -> value
	used := map[string]bool{}
	kebab := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	var srcs []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, f)
		if name != "codes.go" {
			continue
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, id := range vs.Names {
					v, err := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
					if err != nil {
						t.Fatal(err)
					}
					consts[id.Name] = v
				}
			}
		}
	}
	if len(consts) < 20 {
		t.Fatalf("codes.go declares %d problem codes", len(consts))
	}
	seen := map[string]string{}
	for name, v := range consts {
		if !kebab.MatchString(v) {
			t.Errorf("%s = %q is not kebab-case", name, v)
		}
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s are both %q", name, other, v)
		}
		seen[v] = name
	}
	// check reports whether expr, the code of a problem at pos, names a
	// declared constant.
	check := func(expr ast.Expr, pos token.Pos) {
		id, ok := expr.(*ast.Ident)
		if !ok || consts[id.Name] == "" {
			t.Errorf("%v: problem code %s is not a constant of codes.go", fset.Position(pos), exprString(expr))
			return
		}
		used[id.Name] = true
	}
	calls := 0
	for _, f := range srcs {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				return n.Name.Name != "problem" // the helper passes its parameter on
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "problem" && len(n.Args) > 0 {
					calls++
					check(n.Args[0], n.Pos())
				}
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); !ok || id.Name != "Problem" {
					return true
				}
				imported := false
				var code ast.Expr
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch kv.Key.(*ast.Ident).Name {
					case "Code":
						code = kv.Value
					case "Source", "Problem":
						imported = true // another package's problem, with its code
					}
				}
				if code != nil && !imported {
					calls++
					check(code, n.Pos())
				}
			}
			return true
		})
	}
	for name := range consts {
		if !used[name] {
			t.Errorf("%s is declared but no problem uses it", name)
		}
	}
	t.Logf("%d problem sites, %d codes", calls, len(consts))
}

// types renders an expression for an error message.
func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		return e.Value
	case *ast.Ident:
		return e.Name
	}
	return "(an expression)"
}
