package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func versionCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this trainyard and of the server at TRAINYARD_URL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mine := cmd.Root().Version
			server, serr := "", error(nil)
			h, err := e.client.Health(ctxOf(cmd))
			if err != nil {
				serr = err
			} else {
				server = h["version"]
			}
			if asJSON {
				out := map[string]any{"client": mine, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH, "server_url": e.client.URL}
				if serr == nil {
					out["server"] = server
				} else {
					out["server_error"] = serr.Error()
				}
				return printJSON(e.out, out)
			}
			fmt.Fprintf(e.out, "trainyard %s (%s, %s/%s)\n", mine, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if serr != nil {
				fmt.Fprintf(e.errOut, "server at %s: not reachable (%v)\n", e.client.URL, serr)
				return nil
			}
			fmt.Fprintf(e.out, "server %s at %s\n", server, e.client.URL)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
