package launch

import "syscall"

func syscallKill0(pgid int) error { return syscall.Kill(-pgid, 0) }
