package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

func readSecret(env, file string, getenv func(string) string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", errors.New("set an environment variable or a file for the secret, not both")
	case env != "":
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return "", fmt.Errorf("environment variable %s is not set or empty", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("cannot read secret file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return v, nil
	}
	return "", errors.New("no secret: name an environment variable (…_env) or a file (…_file)")
}

func secretSource(env, file string) string {
	if env != "" {
		return "environment variable " + env
	}
	return "file " + file
}
