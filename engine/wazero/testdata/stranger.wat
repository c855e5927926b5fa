(module (import "not_wasi" "f" (func)) (func (export "_start")))
