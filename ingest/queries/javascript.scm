; Outline and tags for JavaScript (captures as in python.scm).

(class_declaration name: (identifier) @name body: (class_body) @body) @definition.class
(function_declaration name: (identifier) @name body: (statement_block) @body) @definition.function
(generator_function_declaration
  name: (identifier) @name body: (statement_block) @body) @definition.function
(method_definition name: (property_identifier) @name body: (statement_block) @body) @definition.method

(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function body: (_) @body) (function_expression body: (_) @body)])) @definition.function
(variable_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function body: (_) @body) (function_expression body: (_) @body)])) @definition.function

; `export` belongs to the signature: the outer node wins over the bare definitions above.
(export_statement
  declaration: (class_declaration name: (identifier) @name body: (class_body) @body)) @definition.class
(export_statement
  declaration: [
    (function_declaration name: (identifier) @name body: (statement_block) @body)
    (generator_function_declaration name: (identifier) @name body: (statement_block) @body)
    (lexical_declaration
      (variable_declarator
        name: (identifier) @name
        value: [(arrow_function body: (_) @body) (function_expression body: (_) @body)]))
  ]) @definition.function

(call_expression function: (identifier) @reference)
(call_expression function: (member_expression property: (property_identifier) @reference))
(new_expression constructor: (identifier) @reference)
(class_heritage (identifier) @reference)
(import_specifier name: (identifier) @reference)
