package lab

import (
	"context"
	"errors"
)

func cmdOpenStack(ctx context.Context, name string, args []string) error {
	return errors.New("the fake OpenStack (internal/fakeopenstack) is not in this checkout yet")
}
