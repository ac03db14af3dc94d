package planner

// UpdateGolden lets the external tests (fixtures_test.go, which needs the
// root package and so cannot live in package planner) share the -update
// flag.
var UpdateGolden = update
