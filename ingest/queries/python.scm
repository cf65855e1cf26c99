; Outline and tags for Python.
; @definition.KIND marks a symbol (its signature starts there, or at an earlier @start node),
; @name its name, @body where its signature ends; @reference a name this file uses.

(class_definition name: (identifier) @name body: (block) @body) @definition.class
(function_definition name: (identifier) @name body: (block) @body) @definition.function

; Decorators belong to the signature: the outer node wins over the bare definition above.
(decorated_definition
  definition: (class_definition name: (identifier) @name body: (block) @body)) @definition.class
(decorated_definition
  definition: (function_definition name: (identifier) @name body: (block) @body)) @definition.function

(call function: (identifier) @reference)
(attribute attribute: (identifier) @reference)
(decorator (identifier) @reference)
(class_definition superclasses: (argument_list (identifier) @reference))
(type (identifier) @reference)
(import_from_statement name: (dotted_name (identifier) @reference))
(import_from_statement name: (aliased_import name: (dotted_name (identifier) @reference)))
