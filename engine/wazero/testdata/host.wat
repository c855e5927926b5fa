;; Exercises the engine contract: host calls with memory access, exit
;; through the host, traps and memory growth.
(module
  (import "env" "record" (func $record (param i32 i32)))
  (import "env" "exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello host")
  (func (export "say") (call $record (i32.const 16) (i32.const 10)))
  (func (export "quit") (call $exit (i32.const 7)) unreachable)
  (func (export "boom") unreachable)
  (func (export "div0") (drop (i32.div_s (i32.const 1) (i32.const 0))))
  (func (export "oob") (drop (i32.load (i32.const 0x7fffffff))))
  ;; grow one page at a time until memory.grow fails; report the pages
  (func (export "grow") (local $n i32)
    (block $done
      (loop $again
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $again)))
    (i32.store (i32.const 0) (memory.size))
    (call $record (i32.const 0) (i32.const 4)))
  (func $recurse (export "recurse") (call $recurse))
)
