// Command workbook runs the lessons' tests for the learner.
//
// This first version runs every lesson's tests and prints go test's output;
// the full runner (progress, watch, hints, reset) replaces it.
package main

import (
	"os"
	"os/exec"
)

func main() {
	cmd := exec.Command("go", "test", "./lessons/...")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		os.Exit(1)
	}
}
