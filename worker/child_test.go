package worker_test

const childEnv = "CAUSEWAY_WORKER_CHILD"

func runChild() int { return 0 }
