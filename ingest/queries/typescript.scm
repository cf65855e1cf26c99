; Outline and tags for TypeScript and TSX (captures as in python.scm; decorators before a
; method join its signature in outline.py).

(class_declaration name: (type_identifier) @name body: (class_body) @body) @definition.class
(abstract_class_declaration name: (type_identifier) @name body: (class_body) @body) @definition.class
(interface_declaration name: (type_identifier) @name body: (interface_body) @body) @definition.interface
(enum_declaration name: (identifier) @name body: (enum_body) @body) @definition.enum
(type_alias_declaration name: (type_identifier) @name) @definition.type
(internal_module name: (identifier) @name body: (statement_block) @body) @definition.module
(function_declaration name: (identifier) @name body: (statement_block) @body) @definition.function
(generator_function_declaration
  name: (identifier) @name body: (statement_block) @body) @definition.function
(function_signature name: (identifier) @name) @definition.function
(method_definition name: (property_identifier) @name body: (statement_block) @body) @definition.method
(method_signature name: (property_identifier) @name) @definition.method
(abstract_method_signature name: (property_identifier) @name) @definition.method

(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function body: (_) @body) (function_expression body: (_) @body)])) @definition.function

; `export` belongs to the signature: the outer node wins over the bare definitions above.
(export_statement
  declaration: [
    (class_declaration name: (type_identifier) @name body: (class_body) @body)
    (abstract_class_declaration name: (type_identifier) @name body: (class_body) @body)
  ]) @definition.class
(export_statement
  declaration: (interface_declaration
    name: (type_identifier) @name body: (interface_body) @body)) @definition.interface
(export_statement
  declaration: (enum_declaration name: (identifier) @name body: (enum_body) @body)) @definition.enum
(export_statement
  declaration: (type_alias_declaration name: (type_identifier) @name)) @definition.type
(export_statement
  declaration: [
    (function_declaration name: (identifier) @name body: (statement_block) @body)
    (generator_function_declaration name: (identifier) @name body: (statement_block) @body)
    (function_signature name: (identifier) @name)
    (lexical_declaration
      (variable_declarator
        name: (identifier) @name
        value: [(arrow_function body: (_) @body) (function_expression body: (_) @body)]))
  ]) @definition.function

(call_expression function: (identifier) @reference)
(call_expression function: (member_expression property: (property_identifier) @reference))
(new_expression constructor: (identifier) @reference)
(extends_clause value: (identifier) @reference)
(implements_clause (type_identifier) @reference)
(type_annotation (type_identifier) @reference)
(generic_type name: (type_identifier) @reference)
(import_specifier name: (identifier) @reference)
