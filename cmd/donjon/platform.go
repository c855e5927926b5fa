package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"donjon.dev/tee"
)

func (a *app) platformCommand() *cobra.Command {
	platform := &cobra.Command{
		Use:   "platform",
		Short: "Inspect this machine's confidential-computing support",
	}
	var output string
	info := &cobra.Command{
		Use:   "info",
		Short: "Show which keep backends this machine supports, and why not the others",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			report := tee.Detect(cmd.Context(), tee.RealProbe())
			switch output {
			case "text", "":
				return report.WriteText(a.stdout)
			case "json":
				return report.WriteJSON(a.stdout)
			default:
				return &exitError{code: 2, msg: fmt.Sprintf("unknown output format %q: use -o text or -o json", output)}
			}
		},
	}
	info.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	platform.AddCommand(info)
	return platform
}
