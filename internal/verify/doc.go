// Package verify holds the workbook's self-check, run by the README's test
// command:
//
//	go test -count=1 -timeout=30m ./cmd/... ./internal/...
//
// For every lesson folder it finds, its tests check that
//   - the lesson's tests all pass against solutions/NN-slug, under -race,
//     -shuffle=on and -count=20 (WORKBOOK_VERIFY_COUNT overrides the count);
//   - every one of those tests, subtests included, fails against the stubs as
//     shipped (the copy in internal/pristine, not the working tree, so a
//     learner who has solved lessons can still run it), and its failure
//     output points at the lesson README;
//   - the tasks are steps: with tasks 1..N solved, the tests of tasks 1..N
//     pass and those of task N+1 fail (staged_test.go);
//   - each wrong answer in solutions/NN-slug/testdata/mistakes makes the test
//     it names fail, every run, within seconds (mistakes_test.go);
//   - the README is the one source of tasks, tests and hints: every test on
//     exactly one task's "Tests:" line, no other copy anywhere;
//   - the generated protobuf code and the stub snapshot are up to date, every
//     Go file is gofmt-clean, and `go vet` is clean.
//
// Lessons added later are covered with no edits here.
package verify
